"""The input half of the outbound-URL policy for API routes (webhooks, tools, knowledge-base URLs): a URL
whose scheme or literal address the policy refuses is a 422 on its field. The connect-time half (DNS,
redirects) is ``security.urls.GuardedTransport`` in whatever later sends the request."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.exceptions import RequestValidationError

from sdr_agent.security.urls import BlockedUrlError, check_url, policy_from_entries
from sdr_agent.settings import Settings


def require_allowed_url(url: str, settings: Settings, loc: Sequence[str | int]) -> str:
    """Return the URL stripped, or raise a 422 pointing at ``loc`` (e.g. ``["body", "webhook_url"]``)."""
    try:
        check_url(url, policy_from_entries(settings.security.url_allowlist))
    except BlockedUrlError as exc:
        raise RequestValidationError(
            [{"loc": list(loc), "msg": str(exc), "type": "value_error.url_blocked"}]
        ) from exc
    return url.strip()
