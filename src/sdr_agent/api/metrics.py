"""``GET /metrics``: Prometheus text format, behind the API key (``xi-api-key``) or
``Authorization: Bearer <SDR_METRICS_TOKEN>`` so a scraper needs no API key."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from sdr_agent.api.deps import get_app_settings, get_services, key_is_valid
from sdr_agent.observability.metrics import BACKLOG_STATUSES
from sdr_agent.observability.runtime import app_metrics
from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.storage.models import WebhookDeliveryRow

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"])


def _bearer_is_valid(header: str | None, settings: Settings) -> bool:
    if not header or settings.metrics_token is None:
        return False
    scheme, _, token = header.partition(" ")
    expected = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not token.strip() or not expected:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _authorize(request: Request) -> None:
    settings = get_app_settings(request)
    open_dev = getattr(request.app.state, "insecure_dev", False) and not settings.api_keys
    if open_dev and settings.metrics_token is None:
        return
    if key_is_valid(request.headers.get("xi-api-key"), settings):
        return
    if _bearer_is_valid(request.headers.get("authorization"), settings):
        return
    raise HTTPException(status_code=401, detail="metrics need a valid xi-api-key or metrics bearer token")


async def _webhook_backlog(services: Services) -> dict[str, int]:
    async with services.db.session() as session:
        rows = await session.execute(
            select(WebhookDeliveryRow.status, func.count())
            .where(WebhookDeliveryRow.status.in_(BACKLOG_STATUSES))
            .group_by(WebhookDeliveryRow.status)
        )
        return {str(status): int(count) for status, count in rows.all()}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _authorize(request)
    services = get_services(request)
    collected = app_metrics(services)
    try:
        collected.set_webhook_backlog(await _webhook_backlog(services))
    except Exception:
        # A database hiccup must not hide every other metric; the gauge keeps its last value.
        log.warning("could not count the webhook backlog", exc_info=True)
    return Response(content=collected.render(), media_type=CONTENT_TYPE_LATEST)
