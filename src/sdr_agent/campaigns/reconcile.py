"""Calls whose callbacks never arrived (the server was down when Twilio posted them): ask Twilio.

Twilio's REST API says how the call ended; that is applied exactly as the lost status callback would have
been, so the conversation (and from it the recipient) moves on.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.campaigns.model import RecipientStatus
from sdr_agent.services import Services
from sdr_agent.storage.models import BatchRecipientRow, utcnow
from sdr_agent.telephony.call_status import apply_status_callback
from sdr_agent.telephony.twilio.rest import TwilioError, twilio_gateway

log = logging.getLogger(__name__)

_TERMINAL_CALL = {"completed", "busy", "no-answer", "failed", "canceled"}


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
