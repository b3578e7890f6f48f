"""From a finished call to the recipient's status: terminal, or pending again for a retry.

Everything is read from the database (the conversation the call wrote, the AMD verdict in its metadata), so
any replica, or the same one after a restart, reaches the same answer. Each change is a conditional UPDATE
on the attempt that is still open, so two replicas finishing the same attempt change it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.campaigns.model import RETRYABLE, Outcome, RecipientStatus, RetryPolicy
from sdr_agent.campaigns.window import CallingWindow, zones_for
from sdr_agent.storage.models import BatchAttemptRow, BatchCallRow, BatchRecipientRow, ConversationRow
from sdr_agent.storage.repos.campaigns import ACTIVE

log = logging.getLogger(__name__)

_TERMINAL_FOR = {
    Outcome.COMPLETED: RecipientStatus.COMPLETED,
    Outcome.VOICEMAIL: RecipientStatus.VOICEMAIL,
    Outcome.CANCELLED: RecipientStatus.CANCELLED,
}
# Twilio's CallStatus (callbacks or REST) → the attempt's outcome when the call never became a conversation.
TWILIO_OUTCOMES = {
    "busy": Outcome.BUSY,
    "no-answer": Outcome.NO_ANSWER,
    "failed": Outcome.FAILED,
    "canceled": Outcome.FAILED,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    answered_by: str | None = None
    detail: str | None = None


def answered_by(conversation: ConversationRow | None) -> str | None:
    amd = (conversation.meta or {}).get("answering_machine_detection") if conversation else None
    value = amd.get("answered_by") if isinstance(amd, dict) else None
    return str(value) if value else None


def reached_machine(conversation: ConversationRow | None) -> bool:
    verdict = answered_by(conversation) or ""
    meta = (conversation.meta or {}) if conversation else {}
    return verdict.startswith("machine") or bool(meta.get("voicemail"))


def classify(conversation: ConversationRow | None) -> Verdict | None:
    """The outcome of a finished conversation; None while the call is still going."""
    if conversation is None:
        return Verdict(Outcome.FAILED, detail="conversation deleted")
    verdict = answered_by(conversation)
    if conversation.status in ("processing", "done"):
        outcome = Outcome.VOICEMAIL if reached_machine(conversation) else Outcome.COMPLETED
        return Verdict(outcome, verdict)
    if conversation.status == "failed":
        reason = (conversation.termination_reason or "failed").strip()
        if reached_machine(conversation):
            return Verdict(Outcome.VOICEMAIL, verdict, reason)
        return Verdict(TWILIO_OUTCOMES.get(reason, Outcome.FAILED), verdict, reason)
    return None


async def finish_attempt(
    session: AsyncSession,
    recipient: BatchRecipientRow,
    attempt: BatchAttemptRow,
    batch: BatchCallRow,
    verdict: Verdict,
    *,
    now: datetime,
    real_now: datetime,
    default_retry: RetryPolicy,
) -> RecipientStatus | None:
    """Close the attempt and move the recipient on; None when another process already did."""
    closed = await session.execute(
        update(BatchAttemptRow)
        .where(BatchAttemptRow.attempt_id == attempt.attempt_id, BatchAttemptRow.outcome.is_(None))
        .values(outcome=verdict.outcome.value, answered_by=verdict.answered_by, ended_at=real_now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(closed, "rowcount", 0):
        return None
    status, next_at, detail = _next_step(recipient, batch, verdict, now, default_retry)
    await session.execute(
        update(BatchRecipientRow)
        .where(
            BatchRecipientRow.recipient_id == recipient.recipient_id,
            BatchRecipientRow.status.in_(ACTIVE),
            BatchRecipientRow.attempts == attempt.attempt_no,
        )
        .values(status=status.value, next_attempt_at=next_at, detail=detail, updated_at=real_now)
        .execution_options(synchronize_session=False)
    )
    return status


def _next_step(
    recipient: BatchRecipientRow,
    batch: BatchCallRow,
    verdict: Verdict,
    now: datetime,
    default_retry: RetryPolicy,
) -> tuple[RecipientStatus, datetime | None, str | None]:
    if verdict.outcome in _TERMINAL_FOR:
        return _TERMINAL_FOR[verdict.outcome], None, verdict.detail
    detail = verdict.outcome.value
    if verdict.detail and verdict.detail != detail:
        detail = f"{detail}: {verdict.detail}"
    policy = RetryPolicy.from_json(batch.retry_policy or {}, default_retry)
    budget = policy.max_attempts * (batch.retry_count + 1)
    if verdict.outcome not in RETRYABLE or recipient.attempts >= budget or batch.status == "cancelled":
        return RecipientStatus.FAILED, None, detail[:255]
    window = CallingWindow.from_json(batch.calling_window or {})
    next_at = window.next_open(now + timedelta(seconds=policy.min_delay_s), zones_for(recipient.timezones))
    if next_at is None:
        return RecipientStatus.FAILED, None, detail[:255]
    return RecipientStatus.PENDING, next_at, f"retry after {detail}"[:255]
