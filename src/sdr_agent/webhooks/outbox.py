"""The delivery outbox (``webhook_deliveries``): enqueue inside the caller's transaction, claim safely, record
attempts, list and replay.

Claiming is a compare-and-set on ``(status, attempts, next_attempt_at)``: a claimed row becomes
``sending`` with ``next_attempt_at`` moved one lease ahead, and its new ``attempts`` value fences later
writes. Two workers (or two processes, on SQLite or PostgreSQL) can race for the same row and only one
update matches; a worker that dies mid-send leaves a lease that expires, after which the row is due again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from sdr_agent.storage.db import Database
from sdr_agent.storage.models import WebhookDeliveryRow, utcnow
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.pagination import DEFAULT_PAGE_SIZE, Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc, as_utc_or_none

PENDING = "pending"
SENDING = "sending"
DELIVERED = "delivered"
DEAD = "dead"
STATUSES = (PENDING, SENDING, DELIVERED, DEAD)
# The attempt log keeps the newest entries only; replay markers are always kept (they start a new window).
MAX_LOGGED_ATTEMPTS = 50


class ReplayConflictError(ValueError):
    """Only a dead delivery can be replayed."""


@dataclass(slots=True)
class Delivery:
    delivery_id: str
    webhook_id: str | None
    url: str
    event_type: str
    conversation_id: str | None
    idempotency_key: str
    status: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    last_error: str | None
    last_status_code: int | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


@dataclass(slots=True)
class ClaimedDelivery:
    """What a worker needs to make one attempt; ``attempt`` is the fencing token for recording it."""

    delivery_id: str
    webhook_id: str | None
    url: str
    event_type: str
    idempotency_key: str
    payload: str
    attempt: int
    window_start: datetime


@dataclass(slots=True)
class AttemptResult:
    outcome: str  # delivered | retry | dead
    status_code: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
    next_attempt_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def idempotency_key(webhook_id: str | None, event_type: str, subject_id: str) -> str:
    """Stable per (receiver, event, conversation): re-running the finisher cannot enqueue the event twice."""
    digest = hashlib.sha256(f"{webhook_id or '-'}|{event_type}|{subject_id}".encode()).hexdigest()
    return f"evt_{digest[:40]}"


async def enqueue(
    session: AsyncSession,
    *,
    webhook_id: str | None,
    url: str,
    event_type: str,
    conversation_id: str | None,
    payload: str,
    key: str,
) -> str | None:
    """Add a pending delivery in the caller's transaction; None when this event is already queued."""
    existing = await session.scalar(
        select(WebhookDeliveryRow.delivery_id).where(WebhookDeliveryRow.idempotency_key == key)
    )
    if existing is not None:
        return None
    now = utcnow()
    row = WebhookDeliveryRow(
        delivery_id=new_id("dlv"),
        webhook_id=webhook_id,
        url=url,
        event_type=event_type,
        conversation_id=conversation_id,
        idempotency_key=key,
        payload=payload,
        status=PENDING,
        attempts=0,
        attempt_log=[],
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row.delivery_id


async def claim_due(db: Database, *, now: datetime, lease_s: float, limit: int) -> list[ClaimedDelivery]:
    lease_until = now + timedelta(seconds=lease_s)
    claimed: list[ClaimedDelivery] = []
    async with db.session() as session:
        candidates = (
            await session.execute(
                select(WebhookDeliveryRow.delivery_id, WebhookDeliveryRow.attempts)
                .where(WebhookDeliveryRow.status.in_((PENDING, SENDING)))
                .where(WebhookDeliveryRow.next_attempt_at <= now)
                .order_by(WebhookDeliveryRow.next_attempt_at)
                .limit(limit)
            )
        ).all()
        for delivery_id, attempts in candidates:
            result = await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.delivery_id == delivery_id)
                .where(WebhookDeliveryRow.attempts == attempts)
                .where(WebhookDeliveryRow.status.in_((PENDING, SENDING)))
                .where(WebhookDeliveryRow.next_attempt_at <= now)
                .values(status=SENDING, attempts=attempts + 1, next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                continue
            row = await session.get(WebhookDeliveryRow, delivery_id, populate_existing=True)
            if row is not None:
                claimed.append(_claimed(row))
    return claimed


async def record_attempt(
    db: Database, claim: ClaimedDelivery, result: AttemptResult, *, now: datetime
) -> bool:
    """Store the attempt's outcome; False when the claim was lost (lease expired and someone else took it)."""
    async with db.session() as session:
        row = await session.get(WebhookDeliveryRow, claim.delivery_id, populate_existing=True)
        if row is None or row.status != SENDING or row.attempts != claim.attempt:
            return False
        entry: dict[str, Any] = {
            "attempt": claim.attempt,
            "at": now.isoformat(),
            "status_code": result.status_code,
            "error": result.error,
            "duration_ms": round(result.duration_ms, 1),
            "outcome": result.outcome,
            **result.extra,
        }
        row.attempt_log = _trim_log([*list(row.attempt_log or []), entry])
        row.last_status_code = result.status_code
        row.last_error = result.error
        if result.outcome == "delivered":
            row.status = DELIVERED
            row.delivered_at = now
        elif result.outcome == "dead":
            row.status = DEAD
        else:
            row.status = PENDING
            row.next_attempt_at = result.next_attempt_at or now
        await session.flush()
    return True


async def release(db: Database, claim: ClaimedDelivery, *, now: datetime, reason: str) -> None:
    """Hand an unfinished claim back (shutdown mid-send) so it is due again at once."""
    await record_attempt(
        db, claim, AttemptResult(outcome="retry", error=reason, next_attempt_at=now), now=now
    )


async def get_delivery(session: AsyncSession, delivery_id: str) -> Delivery | None:
    row = await session.get(
        WebhookDeliveryRow, delivery_id, options=[defer(WebhookDeliveryRow.payload)], populate_existing=True
    )
    return None if row is None else _record(row)


async def get_payload(session: AsyncSession, delivery_id: str) -> str | None:
    return await session.scalar(
        select(WebhookDeliveryRow.payload).where(WebhookDeliveryRow.delivery_id == delivery_id)
    )


async def list_deliveries(
    session: AsyncSession,
    *,
    status: str | None = None,
    webhook_id: str | None = None,
    conversation_id: str | None = None,
    event_type: str | None = None,
    cursor: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[Delivery]:
    """Newest first, payloads left out. Raises InvalidCursorError for a cursor this server did not issue."""
    query: Select[Any] = select(WebhookDeliveryRow).options(defer(WebhookDeliveryRow.payload))
    if status is not None:
        query = query.where(WebhookDeliveryRow.status == status)
    if webhook_id is not None:
        query = query.where(WebhookDeliveryRow.webhook_id == webhook_id)
    if conversation_id is not None:
        query = query.where(WebhookDeliveryRow.conversation_id == conversation_id)
    if event_type is not None:
        query = query.where(WebhookDeliveryRow.event_type == event_type)
    query = newest_first(
        query, WebhookDeliveryRow.created_at, WebhookDeliveryRow.delivery_id, cursor, page_size
    )
    rows = (await session.scalars(query)).all()
    return make_page([_record(r) for r in rows], page_size, lambda d: (d.created_at, d.delivery_id))


async def replay(session: AsyncSession, delivery_id: str, *, now: datetime) -> Delivery | None:
    """Queue a dead delivery again with a fresh retry window. Raises ReplayConflictError if it is not dead."""
    row = await session.get(
        WebhookDeliveryRow, delivery_id, options=[defer(WebhookDeliveryRow.payload)], populate_existing=True
    )
    if row is None:
        return None
    if row.status != DEAD:
        raise ReplayConflictError(
            f"delivery '{delivery_id}' is {row.status}; only dead deliveries can be replayed"
        )
    row.status = PENDING
    row.next_attempt_at = now
    row.attempt_log = _trim_log([*list(row.attempt_log or []), {"replayed_at": now.isoformat()}])
    await session.flush()
    return _record(row)


def window_start(created_at: datetime, attempt_log: list[dict[str, Any]]) -> datetime:
    """Retries run for a fixed time from enqueueing, or from the latest replay."""
    start = as_utc(created_at)
    for entry in attempt_log:
        marker = entry.get("replayed_at") if isinstance(entry, dict) else None
        if isinstance(marker, str):
            try:
                start = max(start, as_utc(datetime.fromisoformat(marker)))
            except ValueError:
                continue
    return start


def _trim_log(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    attempts = [e for e in log if "replayed_at" not in e]
    if len(attempts) <= MAX_LOGGED_ATTEMPTS:
        return log
    dropped = {id(e) for e in attempts[: len(attempts) - MAX_LOGGED_ATTEMPTS]}
    return [e for e in log if id(e) not in dropped]


def _claimed(row: WebhookDeliveryRow) -> ClaimedDelivery:
    return ClaimedDelivery(
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        url=row.url,
        event_type=row.event_type,
        idempotency_key=row.idempotency_key,
        payload=row.payload,
        attempt=row.attempts,
        window_start=window_start(row.created_at, list(row.attempt_log or [])),
    )


def _record(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        url=row.url,
        event_type=row.event_type,
        conversation_id=row.conversation_id,
        idempotency_key=row.idempotency_key,
        status=row.status,
        attempts=row.attempts,
        attempt_log=list(row.attempt_log or []),
        last_error=row.last_error,
        last_status_code=row.last_status_code,
        next_attempt_at=as_utc(row.next_attempt_at),
        created_at=as_utc(row.created_at),
        delivered_at=as_utc_or_none(row.delivered_at),
    )
