"""Batch calls (campaigns), their recipients and every dial attempt.

The dialer's claim is here too: due recipients are selected ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so
replicas never wait on, or take, each other's rows) and moved out of ``pending`` in the same transaction
that records the attempt; SQLite's single writer gives the same guarantee to the one dialer it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import (
    BatchAttemptRow,
    BatchCallRow,
    BatchRecipientRow,
    ConversationRow,
    utcnow,
)
from sdr_agent.storage.repos.locking import begin_write as begin_write  # re-exported for campaigns
from sdr_agent.storage.repos.pagination import Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc, as_utc_or_none

TERMINAL = ("completed", "failed", "cancelled", "voicemail")
ACTIVE = ("dispatched", "initiated", "in_progress")
OPEN_BATCH = ("pending", "in_progress")
LIVE_CONVERSATION = ("initiated", "in-progress")


@dataclass(frozen=True, slots=True)
class BatchTotals:
    scheduled: int = 0
    dispatched: int = 0
    finished: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt_no: int
    conversation_id: str | None
    call_sid: str | None
    outcome: str | None
    answered_by: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(slots=True)
class Recipient:
    recipient_id: str
    batch_id: str
    position: int
    phone_number: str
    client_data: dict[str, Any]
    timezones: list[str]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    conversation_id: str | None
    detail: str | None
    checked_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[Attempt] = field(default_factory=list)


@dataclass(slots=True)
class BatchCall:
    batch_id: str
    name: str
    agent_id: str
    agent_name: str
    phone_number_id: str | None
    phone_provider: str
    scheduled_at: datetime
    timezone: str | None
    status: str
    target_concurrency_limit: int | None
    telephony_call_config: dict[str, Any]
    calling_window: dict[str, Any]
    retry_policy: dict[str, Any]
    retry_count: int
    created_at: datetime
    updated_at: datetime
    totals: BatchTotals = field(default_factory=BatchTotals)


def batch_record(row: BatchCallRow, totals: BatchTotals | None = None) -> BatchCall:
    return BatchCall(
        batch_id=row.batch_id,
        name=row.name,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        phone_number_id=row.phone_number_id,
        phone_provider=row.phone_provider,
        scheduled_at=as_utc(row.scheduled_at),
        timezone=row.timezone,
        status=row.status,
        target_concurrency_limit=row.target_concurrency_limit,
        telephony_call_config=dict(row.telephony_call_config or {}),
        calling_window=dict(row.calling_window or {}),
        retry_policy=dict(row.retry_policy or {}),
        retry_count=row.retry_count,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        totals=totals or BatchTotals(),
    )


def recipient_record(row: BatchRecipientRow) -> Recipient:
    return Recipient(
        recipient_id=row.recipient_id,
        batch_id=row.batch_id,
        position=row.position,
        phone_number=row.phone_number,
        client_data=dict(row.client_data or {}),
        timezones=[str(z) for z in row.timezones or []],
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=as_utc_or_none(row.next_attempt_at),
        conversation_id=row.conversation_id,
        detail=row.detail,
        checked_at=as_utc_or_none(row.checked_at),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _attempt(row: BatchAttemptRow) -> Attempt:
    return Attempt(
        row.attempt_no,
        row.conversation_id,
        row.call_sid,
        row.outcome,
        row.answered_by,
        as_utc(row.started_at),
        as_utc_or_none(row.ended_at),
    )


async def totals_for(session: AsyncSession, batch_ids: list[str]) -> dict[str, BatchTotals]:
    if not batch_ids:
        return {}
    rows = await session.execute(
        select(
            BatchRecipientRow.batch_id,
            func.count(),
            func.sum(case((BatchRecipientRow.attempts > 0, 1), else_=0)),
            func.sum(case((BatchRecipientRow.status.in_(TERMINAL), 1), else_=0)),
        )
        .where(BatchRecipientRow.batch_id.in_(batch_ids))
        .group_by(BatchRecipientRow.batch_id)
    )
    return {
        batch_id: BatchTotals(int(total), int(dispatched or 0), int(finished or 0))
        for batch_id, total, dispatched, finished in rows
    }


async def get_batch(session: AsyncSession, batch_id: str) -> BatchCall | None:
    row = await session.get(BatchCallRow, batch_id, populate_existing=True)
    if row is None:
        return None
    return batch_record(row, (await totals_for(session, [batch_id])).get(batch_id))


async def list_batches(
    session: AsyncSession, *, cursor: str | None, page_size: int, agent_id: str | None
) -> Page[BatchCall]:
    query = select(BatchCallRow)
    if agent_id:
        query = query.where(BatchCallRow.agent_id == agent_id)
    rows = list(
        await session.scalars(
            newest_first(query, BatchCallRow.created_at, BatchCallRow.batch_id, cursor, page_size)
        )
    )
    totals = await totals_for(session, [r.batch_id for r in rows])
    records = [batch_record(r, totals.get(r.batch_id)) for r in rows]
    return make_page(records, page_size, lambda b: (b.created_at, b.batch_id))


async def list_recipients(session: AsyncSession, batch_id: str, *, with_attempts: bool) -> list[Recipient]:
    rows = await session.scalars(
        select(BatchRecipientRow)
        .where(BatchRecipientRow.batch_id == batch_id)
        .order_by(BatchRecipientRow.position)
    )
    recipients = [recipient_record(r) for r in rows]
    if with_attempts and recipients:
        by_id = {r.recipient_id: r for r in recipients}
        attempts = await session.scalars(
            select(BatchAttemptRow)
            .where(BatchAttemptRow.batch_id == batch_id)
            .order_by(BatchAttemptRow.recipient_id, BatchAttemptRow.attempt_no)
        )
        for attempt in attempts:
            by_id[attempt.recipient_id].attempt_log.append(_attempt(attempt))
    return recipients


async def set_batch_status(
    session: AsyncSession, batch_id: str, status: str, *, from_statuses: tuple[str, ...]
) -> bool:
    result = await session.execute(
        update(BatchCallRow)
        .where(BatchCallRow.batch_id == batch_id, BatchCallRow.status.in_(from_statuses))
        .values(status=status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def live_call_count(session: AsyncSession, since: datetime) -> int:
    """Calls that hold a line now (any direction): the global cap counts these, so replicas agree."""
    count = await session.scalar(
        select(func.count())
        .select_from(ConversationRow)
        .where(ConversationRow.status.in_(LIVE_CONVERSATION), ConversationRow.created_at >= since)
    )
    return int(count or 0)


async def active_per_batch(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(BatchRecipientRow.batch_id, func.count())
        .where(BatchRecipientRow.status.in_(ACTIVE))
        .group_by(BatchRecipientRow.batch_id)
    )
    return {batch_id: int(n) for batch_id, n in rows}


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, *, lock: bool = True
) -> list[tuple[BatchRecipientRow, BatchCallRow]]:
    """Pending recipients whose time has come, oldest campaign first, locked for this transaction."""
    query = (
        select(BatchRecipientRow, BatchCallRow)
        .join(BatchCallRow, BatchCallRow.batch_id == BatchRecipientRow.batch_id)
        .where(
            BatchRecipientRow.status == "pending",
            BatchRecipientRow.next_attempt_at <= now,
            BatchCallRow.status.in_(OPEN_BATCH),
            BatchCallRow.scheduled_at <= now,
        )
        .order_by(BatchCallRow.created_at, BatchRecipientRow.position)
        .limit(limit)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=BatchRecipientRow, skip_locked=True)
    result = await session.execute(query)
    return [(recipient, batch) for recipient, batch in result.all()]


async def active_attempts(
    session: AsyncSession,
) -> list[tuple[BatchRecipientRow, BatchAttemptRow, ConversationRow | None]]:
    """Every recipient with a call under way, its current attempt and that attempt's conversation."""
    result = await session.execute(
        select(BatchRecipientRow, BatchAttemptRow, ConversationRow)
        .join(
            BatchAttemptRow,
            and_(
                BatchAttemptRow.recipient_id == BatchRecipientRow.recipient_id,
                BatchAttemptRow.attempt_no == BatchRecipientRow.attempts,
            ),
        )
        .outerjoin(ConversationRow, ConversationRow.conversation_id == BatchAttemptRow.conversation_id)
        .where(BatchRecipientRow.status.in_(ACTIVE))
    )
    return [(r, a, c) for r, a, c in result.all()]


async def open_batches_progress(session: AsyncSession) -> list[tuple[str, str, int, int, int]]:
    """(batch_id, status, recipients, dialed at least once, still open) for every open campaign."""
    rows = await session.execute(
        select(
            BatchCallRow.batch_id,
            BatchCallRow.status,
            func.count(BatchRecipientRow.recipient_id),
            func.sum(case((BatchRecipientRow.attempts > 0, 1), else_=0)),
            func.sum(case((BatchRecipientRow.status.in_(TERMINAL), 0), else_=1)),
        )
        .outerjoin(BatchRecipientRow, BatchRecipientRow.batch_id == BatchCallRow.batch_id)
        .where(BatchCallRow.status.in_(OPEN_BATCH))
        .group_by(BatchCallRow.batch_id, BatchCallRow.status)
    )
    return [(b, s, int(n), int(d or 0), int(o or 0)) for b, s, n, d, o in rows]
