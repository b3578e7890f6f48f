"""Twilio call-progress callbacks move the conversation's status forward, never back.

initiated/ringing → initiated; answered (in-progress) → in-progress; completed → processing when a media
stream ran (the voice session then finishes it to done), else failed ("the stream never connected");
no-answer/busy/failed/canceled → failed with that reason. Callbacks arrive out of order and race the
voice session, so every change is a conditional UPDATE on the status it moves from.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.services import Services
from sdr_agent.storage.models import ConversationRow, utcnow
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos.conversations import Conversation
from sdr_agent.storage.repos.locking import begin_write
from sdr_agent.telephony.outbound import store_call_sid

log = logging.getLogger(__name__)

NO_STREAM_REASON = "call ended before the media stream connected"
_UNANSWERED = {"no-answer", "busy", "failed", "canceled"}
_OPEN = ("initiated", "in-progress")


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a callback did: the status it set (None = nothing changed) and why."""

    conversation_id: str
    call_status: str
    new_status: str | None
    termination_reason: str | None = None


def _duration(form: Mapping[str, str]) -> float | None:
    raw = form.get("CallDuration") or form.get("Duration")
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def stream_ran(conversation: Conversation) -> bool:
    phone_call = conversation.metadata.get("phone_call")
    metadata_sid = phone_call.get("stream_sid") if isinstance(phone_call, dict) else None
    return bool(conversation.stream_sid or metadata_sid or conversation.started_at)


async def apply_status_callback(
    services: Services, form: Mapping[str, str], conversation_id: str | None
) -> StatusChange | None:
    """Returns None when the callback matches no conversation (it is acknowledged all the same)."""
    call_status = form.get("CallStatus", "").strip().lower()
    call_sid = form.get("CallSid", "")
    async with services.db.session() as session:
        # Read-then-write: on SQLite take the write lock first, or a busy moment loses the callback.
        await begin_write(session)
        conversation = await _find(session, call_sid, conversation_id)
        if conversation is None:
            log.info("status callback %r for unknown call %s", call_status, call_sid)
            return None
        if conversation.call_sid is None and call_sid:
            # The REST answer that carried the sid may not be stored yet (a busy moment), or never (the
            # process died while dialing): the callback's CallSid ties the call to its conversation.
            await store_call_sid(session, conversation, call_sid)
        change = await _apply(session, conversation, call_status, _duration(form))
    if change.new_status:
        log.info(
            "call %s %s: conversation %s → %s",
            call_sid,
            call_status,
            conversation.conversation_id,
            change.new_status,
        )
    return change


async def _find(session: AsyncSession, call_sid: str, conversation_id: str | None) -> Conversation | None:
    if conversation_id:
        found = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
        # A callback for another call must not move this conversation.
        if found is not None and found.call_sid not in (None, call_sid):
            return None
        return found
    if call_sid:
        return await conversations_repo.get_conversation_by_call_sid(session, call_sid)
    return None


async def _apply(
    session: AsyncSession, conversation: Conversation, call_status: str, duration: float | None
) -> StatusChange:
    cid = conversation.conversation_id
    if call_status in {"queued", "initiated", "ringing"}:
        # Already initiated when created; nothing moves back to it.
        return StatusChange(cid, call_status, None)
    if call_status in {"in-progress", "answered"}:
        moved = await _move(session, cid, from_statuses=("initiated",), status="in-progress")
        return StatusChange(cid, call_status, "in-progress" if moved else None)
    if call_status == "completed":
        ended = _ended_fields(conversation, duration)
        if stream_ran(conversation):
            moved = await _move(session, cid, from_statuses=_OPEN, status="processing", **ended)
            if not moved:
                await _fill_missing_duration(session, conversation, duration)
            return StatusChange(cid, call_status, "processing" if moved else None)
        return await _fail(session, conversation, call_status, NO_STREAM_REASON, ended)
    if call_status in _UNANSWERED:
        return await _fail(
            session, conversation, call_status, call_status, _ended_fields(conversation, duration)
        )
    log.info("ignoring unknown CallStatus %r for conversation %s", call_status, cid)
    return StatusChange(cid, call_status, None)


async def _fail(
    session: AsyncSession, conversation: Conversation, call_status: str, reason: str, ended: dict[str, Any]
) -> StatusChange:
    cid = conversation.conversation_id
    moved = await _move(
        session, cid, from_statuses=_OPEN, status="failed", termination_reason=reason, **ended
    )
    if not moved:
        return StatusChange(cid, call_status, None)
    await conversations_repo.merge_conversation_metadata(session, cid, {"termination_reason": reason})
    return StatusChange(cid, call_status, "failed", reason)


def _ended_fields(conversation: Conversation, duration: float | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if conversation.ended_at is None:
        fields["ended_at"] = utcnow()
    if duration is not None:
        fields["duration_secs"] = duration
    return fields


async def _fill_missing_duration(
    session: AsyncSession, conversation: Conversation, duration: float | None
) -> None:
    # The voice session measures the call itself; Twilio's number only fills a gap it left.
    if duration is None or conversation.status == "done":
        return
    await session.execute(
        update(ConversationRow)
        .where(ConversationRow.conversation_id == conversation.conversation_id)
        .where(ConversationRow.status != "done")
        .where(ConversationRow.duration_secs == 0)
        .values(duration_secs=duration, updated_at=utcnow())
    )


async def _move(
    session: AsyncSession, conversation_id: str, *, from_statuses: Collection[str], status: str, **values: Any
) -> bool:
    result = await session.execute(
        update(ConversationRow)
        .where(ConversationRow.conversation_id == conversation_id)
        .where(ConversationRow.status.in_(list(from_statuses)))
        .values(status=status, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
