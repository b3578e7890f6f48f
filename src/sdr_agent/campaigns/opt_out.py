"""A caller who asked not to be called again goes on the do-not-call list (source ``call``).

The dialogue writes ``metadata["opt_out"] = {"phrase", "time_in_call_secs"}`` the moment it hears the
request; this turns it into a suppression entry. It runs where the conversation is finalized and again
when the dialer closes the attempt, so a crash between the two cannot lose it (adding twice is a no-op).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.campaigns.numbers import InvalidNumberError, to_e164
from sdr_agent.storage.repos import suppression as suppression_repo

log = logging.getLogger(__name__)


def opt_out_phrase(metadata: Mapping[str, Any]) -> str | None:
    opt_out = metadata.get("opt_out")
    if not isinstance(opt_out, Mapping):
        return None
    phrase = opt_out.get("phrase")
    return str(phrase) if phrase else "asked not to be called again"


async def suppress_if_opted_out(
    session: AsyncSession, external_number: str | None, metadata: Mapping[str, Any]
) -> bool:
    """True when the number was added now."""
    phrase = opt_out_phrase(metadata)
    if phrase is None or not external_number:
        return False
    try:
        number = to_e164(external_number)
    except InvalidNumberError:
        log.info("opt-out on a call from an unusable number %r", external_number)
        return False
    _, created = await suppression_repo.add_number(
        session, number, f"caller asked during the call: {phrase!r}"[:1000], "call"
    )
    if created:
        log.info("%s added to the do-not-call list at the caller's request", number)
    return created
