"""The webhook outbox, visible: every delivery with its attempts and errors; dead ones can be replayed.

- ``GET /v1/convai/webhook-deliveries`` (status, webhook_id, conversation_id, event_type, cursor, page_size)
  → ``{deliveries[], next_cursor, has_more}``, newest first.
- ``GET /v1/convai/webhook-deliveries/{delivery_id}`` (``include_payload=true`` adds the exact body sent).
- ``POST /v1/convai/webhook-deliveries/{delivery_id}/replay`` re-queues a dead delivery (409 otherwise).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from sdr_agent.api.deps import ServicesDep, SessionDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.paging import DEFAULT_PAGE, CursorQuery, PageSizeQuery, invalid_cursor
from sdr_agent.storage.models import utcnow
from sdr_agent.storage.repos.pagination import InvalidCursorError
from sdr_agent.storage.repos.timeutil import unix_secs
from sdr_agent.webhooks import outbox
from sdr_agent.webhooks.runtime import wake_worker

router = APIRouter(
    prefix="/v1/convai/webhook-deliveries",
    tags=["webhook deliveries"],
    dependencies=[Depends(require_api_key)],
)

_STATUS_PATTERN = "^(" + "|".join(outbox.STATUSES) + ")$"


class DeliveryView(BaseModel):
    delivery_id: str
    webhook_id: str | None
    url: str
    event_type: str
    conversation_id: str | None
    idempotency_key: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[dict[str, Any]]
    created_at_unix: int
    next_attempt_at_unix: int | None
    delivered_at_unix: int | None
    payload: str | None = None

    @classmethod
    def of(cls, delivery: outbox.Delivery, payload: str | None = None) -> DeliveryView:
        waiting = delivery.status in (outbox.PENDING, outbox.SENDING)
        return cls(
            delivery_id=delivery.delivery_id,
            webhook_id=delivery.webhook_id,
            url=delivery.url,
            event_type=delivery.event_type,
            conversation_id=delivery.conversation_id,
            idempotency_key=delivery.idempotency_key,
            status=delivery.status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            attempt_log=delivery.attempt_log,
            created_at_unix=unix_secs(delivery.created_at) or 0,
            next_attempt_at_unix=unix_secs(delivery.next_attempt_at) if waiting else None,
            delivered_at_unix=unix_secs(delivery.delivered_at),
            payload=payload,
        )


class DeliveriesPage(BaseModel):
    deliveries: list[DeliveryView]
    next_cursor: str | None
    has_more: bool


@router.get("", response_model=DeliveriesPage, response_model_exclude_none=False)
async def list_deliveries(
    session: SessionDep,
    status: str | None = Query(default=None, pattern=_STATUS_PATTERN),
    webhook_id: str | None = None,
    conversation_id: str | None = None,
    event_type: str | None = None,
    cursor: CursorQuery = None,
    page_size: PageSizeQuery = DEFAULT_PAGE,
) -> DeliveriesPage:
    try:
        page = await outbox.list_deliveries(
            session,
            status=status,
            webhook_id=webhook_id,
            conversation_id=conversation_id,
            event_type=event_type,
            cursor=cursor,
            page_size=page_size,
        )
    except InvalidCursorError as exc:
        raise invalid_cursor() from exc
    return DeliveriesPage(
        deliveries=[DeliveryView.of(d) for d in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{delivery_id}", response_model=DeliveryView)
async def get_delivery(delivery_id: str, session: SessionDep, include_payload: bool = False) -> DeliveryView:
    delivery = await outbox.get_delivery(session, delivery_id)
    if delivery is None:
        raise NotFoundError("webhook delivery", delivery_id)
    payload = await outbox.get_payload(session, delivery_id) if include_payload else None
    return DeliveryView.of(delivery, payload)


@router.post("/{delivery_id}/replay", response_model=DeliveryView)
async def replay_delivery(delivery_id: str, session: SessionDep, services: ServicesDep) -> DeliveryView:
    try:
        delivery = await outbox.replay(session, delivery_id, now=utcnow())
    except outbox.ReplayConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    if delivery is None:
        raise NotFoundError("webhook delivery", delivery_id)
    await session.commit()
    wake_worker(services)
    return DeliveryView.of(delivery)
