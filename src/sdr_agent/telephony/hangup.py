"""Hang up or transfer a live phone call from the API, whichever process holds its media stream.

Both go through Twilio's REST API (with the number's own credentials when it has them): completing the call,
or replacing its TwiML with a ``<Dial>``. Twilio then stops the media stream and closes it, so the session
ends in the worker or replica that owns the socket, exactly as when the caller hangs up. Nothing here needs
that process's memory, so any worker of ``serve --workers N`` (or any replica) can answer the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdr_agent.services import Services
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.telephony.answer import call_credentials
from sdr_agent.telephony.twilio.rest import TwilioError, twilio_gateway
from sdr_agent.telephony.twilio.twiml import transfer_twiml

# A call in these states has a line that can still be put down.
LIVE_STATUSES = frozenset({"initiated", "in-progress"})


class HangupError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class HungUp:
    conversation_id: str
    call_sid: str


async def _live_call(services: Services, conversation_id: str) -> tuple[str, str | None]:
    """(call sid, phone number id) of a live phone call; 404 unknown, 409 not a live phone call."""
    async with services.db.session() as session:
        conversation = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
    if conversation is None:
        raise HangupError(404, f"conversation {conversation_id} not found")
    if not conversation.call_sid:
        raise HangupError(409, f"conversation {conversation_id} is not a phone call")
    if conversation.status not in LIVE_STATUSES:
        raise HangupError(409, f"conversation {conversation_id} is {conversation.status}, not a live call")
    return conversation.call_sid, conversation.phone_number_id


async def hang_up_conversation(services: Services, conversation_id: str) -> HungUp:
    """Complete the conversation's phone call (502 when Twilio refuses)."""
    call_sid, number_id = await _live_call(services, conversation_id)
    credentials = await call_credentials(services, number_id)
    try:
        await twilio_gateway(services).hangup(call_sid, credentials)
    except TwilioError as exc:
        raise HangupError(502, f"Twilio refused the hang-up: {exc}") from exc
    return HungUp(conversation_id=conversation_id, call_sid=call_sid)


async def transfer_conversation(services: Services, conversation_id: str, phone_number: str) -> HungUp:
    """Redirect the live call to ``<Dial>phone_number</Dial>`` (the number is validated by the caller)."""
    call_sid, number_id = await _live_call(services, conversation_id)
    credentials = await call_credentials(services, number_id)
    try:
        await twilio_gateway(services).redirect(call_sid, transfer_twiml(phone_number), credentials)
    except TwilioError as exc:
        status = 409 if exc.is_client_error else 502  # Twilio: "Call is not in-progress. Cannot redirect."
        raise HangupError(status, f"Twilio refused the transfer: {exc}") from exc
    return HungUp(conversation_id=conversation_id, call_sid=call_sid)
