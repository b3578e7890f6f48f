"""Calls whose callbacks never arrived (the server was down when Twilio posted them): ask Twilio.

Twilio's REST API says how the call ended; that is applied exactly as the lost status callback would have
been, so the conversation (and from it the recipient) moves on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.campaigns.model import Outcome, RecipientStatus, RetryPolicy
from sdr_agent.campaigns.outcomes import Verdict, finish_attempt
from sdr_agent.services import Services
from sdr_agent.storage.models import BatchAttemptRow, BatchCallRow, BatchRecipientRow, ConversationRow, utcnow
from sdr_agent.storage.repos import campaigns as campaigns_repo
from sdr_agent.telephony.call_status import apply_status_callback
from sdr_agent.telephony.outbound import record_call_sid
from sdr_agent.telephony.twilio.rest import TwilioError, twilio_gateway

log = logging.getLogger(__name__)

_TERMINAL_CALL = {"completed", "busy", "no-answer", "failed", "canceled"}
# Clocks differ between us and Twilio; a call created this long before our attempt record is not ours.
_CLOCK_SKEW = timedelta(seconds=30)
UNKNOWN_REASON = "the dialing process stopped before Twilio answered"


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """An attempt recorded before its process died, with no call sid and no webhook since."""

    recipient_id: str
    attempt_id: str
    conversation_id: str
    to_number: str
    from_number: str
    started_at: datetime


async def settle_unconfirmed(
    services: Services, attempt: Unconfirmed, *, now: datetime, default_retry: RetryPolicy
) -> int:
    """Twilio may have placed the call just before the crash (its webhooks then found nobody). Its Calls
    list says: a call to that number from ours, after the attempt, not owned by any conversation, *is* this
    attempt's call — adopt it (the next reconcile asks how it ended). Only when there is none is the attempt
    closed as ``unknown`` (and retried per policy): the number was never dialed for it. 1 if closed."""
    try:
        calls = await twilio_gateway(services).find_calls(
            attempt.to_number, attempt.from_number, attempt.started_at.date()
        )
    except TwilioError as exc:
        log.info("could not list Twilio calls to %s: %s", attempt.to_number, exc)
        return 0
    async with services.db.session() as session:
        owned = set(
            await session.scalars(
                select(ConversationRow.call_sid).where(
                    ConversationRow.to_number == attempt.to_number, ConversationRow.call_sid.is_not(None)
                )
            )
        )
    earliest = attempt.started_at - _CLOCK_SKEW
    orphans = [
        sid
        for sid, _, created in calls
        if sid not in owned and (created is None or _utc(created) >= earliest)
    ]
    if orphans:
        sid = orphans[-1]  # newest first: the oldest orphan is the one this attempt placed
        await record_call_sid(services, attempt.conversation_id, sid)
        async with services.db.session() as session:
            await campaigns_repo.begin_write(session)
            await session.execute(
                update(BatchAttemptRow)
                .where(BatchAttemptRow.attempt_id == attempt.attempt_id, BatchAttemptRow.call_sid.is_(None))
                .values(call_sid=sid)
            )
            await session.execute(
                update(BatchRecipientRow)
                .where(BatchRecipientRow.recipient_id == attempt.recipient_id)
                .values(checked_at=None)
            )
        log.info("adopted Twilio call %s for an attempt whose process died while dialing", sid)
        return 0
    return await _close_unknown(services, attempt, now=now, default_retry=default_retry)


async def _close_unknown(
    services: Services, attempt: Unconfirmed, *, now: datetime, default_retry: RetryPolicy
) -> int:
    real_now = datetime.now(UTC)
    async with services.db.session() as session:
        await campaigns_repo.begin_write(session)
        recipient = await session.get(BatchRecipientRow, attempt.recipient_id)
        row = await session.get(BatchAttemptRow, attempt.attempt_id)
        batch = await session.get(BatchCallRow, recipient.batch_id) if recipient else None
        if recipient is None or row is None or batch is None:
            return 0
        # The conversation never had a call: it must not count as a live line any more.
        await session.execute(
            update(ConversationRow)
            .where(
                ConversationRow.conversation_id == attempt.conversation_id,
                ConversationRow.status == "initiated",
                ConversationRow.call_sid.is_(None),
            )
            .values(
                status="failed", termination_reason=UNKNOWN_REASON, ended_at=real_now, updated_at=real_now
            )
        )
        status = await finish_attempt(
            session,
            recipient,
            row,
            batch,
            Verdict(Outcome.UNKNOWN, detail=UNKNOWN_REASON),
            now=now,
            real_now=real_now,
            default_retry=default_retry,
        )
    return int(status is not None)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def ask_twilio(services: Services, call_sid: str, conversation_id: str | None) -> str | None:
    """Twilio's status for the call (applied to the conversation when it has ended); None if unknown."""
    try:
        call_status, _answered_by = await twilio_gateway(services).fetch_status(call_sid)
    except TwilioError as exc:
        log.info("could not ask Twilio about call %s: %s", call_sid, exc)
        return None
    if call_status in _TERMINAL_CALL:
        form = {"CallSid": call_sid, "CallStatus": call_status}
        await apply_status_callback(services, form, conversation_id)
    return call_status


async def progress_status(
    session: AsyncSession, recipient_id: str, attempt_no: int, status: RecipientStatus
) -> None:
    """dispatched → initiated once Twilio accepted the call (never backwards)."""
    await session.execute(
        update(BatchRecipientRow)
        .where(
            BatchRecipientRow.recipient_id == recipient_id,
            BatchRecipientRow.attempts == attempt_no,
            BatchRecipientRow.status == RecipientStatus.DISPATCHED.value,
        )
        .values(status=status.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
