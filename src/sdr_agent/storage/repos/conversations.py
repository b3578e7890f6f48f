"""Conversations and their transcript turns (one row per turn, written the moment the turn ends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import AgentRow, ConversationRow, TranscriptTurnRow, utcnow
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.jsonmerge import deep_merge
from sdr_agent.storage.repos.pagination import DEFAULT_PAGE_SIZE, Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc, as_utc_or_none

STATUSES = ("initiated", "in-progress", "processing", "done", "failed")

# Attribute names callers may pass to update_conversation ("metadata" is the ORM's ``meta``).
_UPDATABLE = {
    "agent_id", "call_sid", "stream_sid", "status", "direction", "from_number", "to_number",
    "phone_number_id", "dynamic_variables", "config_override", "metadata", "analysis", "termination_reason",
    "call_successful", "audio_path", "started_at", "ended_at", "duration_secs",
}


@dataclass(slots=True)
class TurnRecord:
    role: str
    message: str | None
    time_in_call_secs: float
    interrupted: bool = False
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    phase: str | None = None
    intent: str | None = None
    sentiment: float | None = None
    dtmf: str | None = None
    latency_ms: float | None = None
    bargein_detect_ms: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seq: int = 0


@dataclass(slots=True)
class Conversation:
    conversation_id: str
    agent_id: str | None
    call_sid: str | None
    stream_sid: str | None
    status: str
    direction: str
    from_number: str | None
    to_number: str | None
    phone_number_id: str | None
    dynamic_variables: dict[str, Any]
    config_override: dict[str, Any]
    metadata: dict[str, Any]
    analysis: dict[str, Any] | None
    termination_reason: str | None
    call_successful: str | None
    audio_path: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_secs: float
    created_at: datetime
    updated_at: datetime
    turns: list[TurnRecord] = field(default_factory=list)


@dataclass(slots=True)
class ConversationSummary:
    """A list item: the conversation (no turns) plus what the list shows about it."""

    conversation: Conversation
    agent_name: str | None
    message_count: int


def _turn_record(row: TranscriptTurnRow) -> TurnRecord:
    return TurnRecord(
        role=row.role,
        message=row.message,
        time_in_call_secs=row.time_in_call_secs,
        interrupted=row.interrupted,
        tool_calls=list(row.tool_calls or []),
        tool_results=list(row.tool_results or []),
        phase=row.phase,
        intent=row.intent,
        sentiment=row.sentiment,
        dtmf=row.dtmf,
        latency_ms=row.latency_ms,
        bargein_detect_ms=row.bargein_detect_ms,
        metrics=dict(row.metrics or {}),
        seq=row.seq,
    )


def _record(row: ConversationRow, turns: list[TurnRecord] | None = None) -> Conversation:
    return Conversation(
        conversation_id=row.conversation_id,
        agent_id=row.agent_id,
        call_sid=row.call_sid,
        stream_sid=row.stream_sid,
        status=row.status,
        direction=row.direction,
        from_number=row.from_number,
        to_number=row.to_number,
        phone_number_id=row.phone_number_id,
        dynamic_variables=dict(row.dynamic_variables or {}),
        config_override=dict(row.config_override or {}),
        metadata=dict(row.meta or {}),
        analysis=None if row.analysis is None else dict(row.analysis),
        termination_reason=row.termination_reason,
        call_successful=row.call_successful,
        audio_path=row.audio_path,
        started_at=as_utc_or_none(row.started_at),
        ended_at=as_utc_or_none(row.ended_at),
        duration_secs=row.duration_secs or 0.0,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        turns=turns or [],
    )


async def create_conversation(
    session: AsyncSession,
    *,
    agent_id: str | None,
    direction: str,
    status: str = "initiated",
    call_sid: str | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
    phone_number_id: str | None = None,
    dynamic_variables: dict[str, Any] | None = None,
    config_override: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    conversation_id: str | None = None,
) -> Conversation:
    _check_status(status)
    now = utcnow()
    row = ConversationRow(
        conversation_id=conversation_id or new_id("conv"),
        agent_id=agent_id,
        call_sid=call_sid,
        status=status,
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        phone_number_id=phone_number_id,
        dynamic_variables=dict(dynamic_variables or {}),
        config_override=dict(config_override or {}),
        meta=dict(metadata or {}),
        duration_secs=0.0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return _record(row)


async def get_conversation(
    session: AsyncSession, conversation_id: str, *, with_turns: bool = True
) -> Conversation | None:
    row = await session.get(ConversationRow, conversation_id, populate_existing=True)
    if row is None:
        return None
    return _record(row, await list_turns(session, conversation_id) if with_turns else None)


async def get_conversation_by_call_sid(session: AsyncSession, call_sid: str) -> Conversation | None:
    row = await session.scalar(select(ConversationRow).where(ConversationRow.call_sid == call_sid))
    return None if row is None else _record(row, await list_turns(session, row.conversation_id))


async def list_turns(session: AsyncSession, conversation_id: str) -> list[TurnRecord]:
    rows = await session.scalars(
        select(TranscriptTurnRow)
        .where(TranscriptTurnRow.conversation_id == conversation_id)
        .order_by(TranscriptTurnRow.seq)
    )
    return [_turn_record(r) for r in rows]


async def update_conversation(session: AsyncSession, conversation_id: str, **fields: Any) -> bool:
    """Set columns by name (``metadata`` replaces the whole object). Returns False if there is no such row."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable conversation fields: {sorted(unknown)}")
    if "status" in fields:
        _check_status(fields["status"])
    values = {("meta" if k == "metadata" else k): v for k, v in fields.items()}
    values["updated_at"] = utcnow()
    result = await session.execute(
        update(ConversationRow)
        .where(ConversationRow.conversation_id == conversation_id)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


async def merge_conversation_metadata(
    session: AsyncSession, conversation_id: str, patch: dict[str, Any]
) -> bool:
    """Deep-merge ``patch`` into metadata (``None`` deletes a key). Returns False if there is no such row."""
    row = await session.get(ConversationRow, conversation_id, populate_existing=True)
    if row is None:
        return False
    row.meta = deep_merge(row.meta or {}, patch)
    row.updated_at = utcnow()
    await session.flush()
    return True


async def append_turn(session: AsyncSession, conversation_id: str, turn: TurnRecord) -> int:
    """Store one turn with the next sequence number and return it (one writer per conversation)."""
    last = await session.scalar(
        select(func.max(TranscriptTurnRow.seq)).where(TranscriptTurnRow.conversation_id == conversation_id)
    )
    seq = 0 if last is None else int(last) + 1
    session.add(
        TranscriptTurnRow(
            conversation_id=conversation_id,
            seq=seq,
            role=turn.role,
            message=turn.message,
            time_in_call_secs=float(turn.time_in_call_secs),
            interrupted=turn.interrupted,
            tool_calls=list(turn.tool_calls),
            tool_results=list(turn.tool_results),
            phase=turn.phase,
            intent=turn.intent,
            sentiment=turn.sentiment,
            dtmf=turn.dtmf,
            latency_ms=turn.latency_ms,
            bargein_detect_ms=turn.bargein_detect_ms,
            metrics=dict(turn.metrics),
            created_at=utcnow(),
        )
    )
    await session.flush()
    return seq


async def list_conversations(
    session: AsyncSession,
    *,
    agent_id: str | None = None,
    cursor: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    status: str | None = None,
    call_successful: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Page[ConversationSummary]:
    """Newest first. Raises InvalidCursorError for a cursor this server did not issue."""
    query = select(ConversationRow)
    if agent_id is not None:
        query = query.where(ConversationRow.agent_id == agent_id)
    if status is not None:
        query = query.where(ConversationRow.status == status)
    if call_successful is not None:
        query = query.where(ConversationRow.call_successful == call_successful)
    if created_after is not None:
        query = query.where(ConversationRow.created_at > created_after)
    if created_before is not None:
        query = query.where(ConversationRow.created_at < created_before)
    query = newest_first(
        query, ConversationRow.created_at, ConversationRow.conversation_id, cursor, page_size
    )
    rows = list((await session.scalars(query)).all())
    ids = [r.conversation_id for r in rows]
    counts: dict[str, int] = {}
    names: dict[str, str] = {}
    if ids:
        count_rows = await session.execute(
            select(TranscriptTurnRow.conversation_id, func.count())
            .where(TranscriptTurnRow.conversation_id.in_(ids))
            .group_by(TranscriptTurnRow.conversation_id)
        )
        counts = {cid: int(n) for cid, n in count_rows.all()}
        agent_ids = {r.agent_id for r in rows if r.agent_id}
        if agent_ids:
            name_rows = await session.execute(
                select(AgentRow.agent_id, AgentRow.name).where(AgentRow.agent_id.in_(agent_ids))
            )
            names = {aid: name for aid, name in name_rows.all()}
    items = [
        ConversationSummary(_record(r), names.get(r.agent_id or ""), counts.get(r.conversation_id, 0))
        for r in rows
    ]
    return make_page(items, page_size, lambda s: (s.conversation.created_at, s.conversation.conversation_id))


async def delete_conversation(session: AsyncSession, conversation_id: str) -> bool:
    # Turns go explicitly too: SQLite only cascades with foreign_keys on, and some tools open it without.
    await session.execute(
        delete(TranscriptTurnRow).where(TranscriptTurnRow.conversation_id == conversation_id)
    )
    result = await session.execute(
        delete(ConversationRow).where(ConversationRow.conversation_id == conversation_id)
    )
    return bool(getattr(result, "rowcount", 0))


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown conversation status {status!r}; expected one of {STATUSES}")
