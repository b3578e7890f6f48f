"""Answering Twilio's voice webhooks with TwiML: connect the call's media stream, or politely hang up.

An answer that connects issues the call's one stream token (``twilio.tokens``); the media WebSocket consumes
it. A replayed webhook for a call that already got a token, or is live, gets no token: the replayer hears
``<Say>`` + ``<Hangup>`` and the real call is untouched. Nothing here raises to the router for bad data: an
unknown number or call gets ``<Say>`` + ``<Hangup>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from sdr_agent.services import Services
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.storage.repos.conversations import Conversation
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.telephony import variables
from sdr_agent.telephony.outbound import record_call_sid
from sdr_agent.telephony.twilio.rest import Credentials
from sdr_agent.telephony.twilio.tokens import call_tokens
from sdr_agent.telephony.twilio.twiml import say_hangup_twiml, stream_twiml

log = logging.getLogger(__name__)

NUMBER_UNAVAILABLE_LINE = "Sorry, this number is not available right now. Please try again later. Goodbye."
CALL_UNAVAILABLE_LINE = "Sorry, we cannot connect this call right now. Goodbye."
MEDIA_PATH = "/ws/voice/{call_sid}"
_CALL_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
_FINISHED = {"processing", "done", "failed"}


def stream_url(services: Services, call_sid: str) -> str:
    return services.settings.public_ws_base + MEDIA_PATH.format(call_sid=call_sid)


async def connect_twiml(services: Services, call_sid: str, conversation_id: str, agent_id: str) -> str:
    """The Stream TwiML with the call's token; a hang-up when the call already had one or we are draining."""
    if services.draining:
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    token = await call_tokens(services).issue(call_sid)
    if token is None:
        log.warning("webhook for call %s that already has a stream token: replay refused", call_sid)
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    return stream_twiml(
        stream_url(services, call_sid),
        {"token": token, "conversation_id": conversation_id, "agent_id": agent_id},
    )


async def answer_inbound_call(services: Services, form: Mapping[str, str]) -> str:
    """The agent assigned to the called number (``To``) takes the call."""
    call_sid, called, caller = form.get("CallSid", ""), form.get("To", ""), form.get("From", "")
    if not _CALL_SID.match(call_sid):
        log.warning("inbound webhook without a usable CallSid")
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    async with services.db.session() as session:
        number = await numbers_repo.get_phone_number_by_e164(session, called)
        if number is None or number.agent_id is None or not number.supports_inbound:
            log.info("inbound call %s to %r: no agent answers this number", call_sid, called)
            return say_hangup_twiml(NUMBER_UNAVAILABLE_LINE)
        agent = await agents_repo.get_agent(session, number.agent_id)
        if agent is None:
            return say_hangup_twiml(NUMBER_UNAVAILABLE_LINE)
        existing = await conversations_repo.get_conversation_by_call_sid(session, call_sid)
        if existing is not None:
            # Twilio retries a webhook it got no answer to; the call keeps its conversation.
            if existing.status in _FINISHED or existing.started_at is not None:
                return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
            conversation_id = existing.conversation_id
        else:
            conversation_id = new_id("conv")
            dynamic = {
                **variables.placeholder_defaults(agent.conversation_config),
                **variables.system_variables(
                    agent_id=agent.agent_id,
                    conversation_id=conversation_id,
                    caller_id=caller or None,
                    called_number=called,
                    call_sid=call_sid,
                ),
            }
            await conversations_repo.create_conversation(
                session,
                conversation_id=conversation_id,
                agent_id=agent.agent_id,
                direction="inbound",
                status="initiated",
                call_sid=call_sid,
                from_number=caller or None,
                to_number=called,
                phone_number_id=number.phone_number_id,
                dynamic_variables=dynamic,
                metadata={
                    "phone_call": {
                        "type": "twilio",
                        "direction": "inbound",
                        "phone_number_id": number.phone_number_id,
                        "agent_number": called,
                        "external_number": caller or None,
                        "call_sid": call_sid,
                        "stream_sid": None,
                    }
                },
            )
    log.info("inbound call %s from %r answered by agent %s", call_sid, caller, agent.agent_id)
    return await connect_twiml(services, call_sid, conversation_id, agent.agent_id)


async def answer_outbound_call(
    services: Services, form: Mapping[str, str], conversation_id: str | None
) -> str:
    """The callee picked up a call we placed: connect it to its conversation."""
    call_sid = form.get("CallSid", "")
    if not _CALL_SID.match(call_sid):
        log.warning("outbound webhook without a usable CallSid")
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    conversation = await _find_conversation(services, call_sid, conversation_id)
    if conversation is None or conversation.agent_id is None:
        log.warning("outbound webhook for call %s: no matching conversation", call_sid)
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    if conversation.call_sid not in (None, call_sid):
        log.warning(
            "outbound webhook: call %s does not belong to conversation %s",
            call_sid,
            conversation.conversation_id,
        )
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    if conversation.status in _FINISHED or conversation.started_at is not None:
        return say_hangup_twiml(CALL_UNAVAILABLE_LINE)
    await record_call_sid(services, conversation.conversation_id, call_sid)
    return await connect_twiml(services, call_sid, conversation.conversation_id, conversation.agent_id)


async def _find_conversation(
    services: Services, call_sid: str, conversation_id: str | None
) -> Conversation | None:
    async with services.db.session() as session:
        if conversation_id:
            return await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
        return await conversations_repo.get_conversation_by_call_sid(session, call_sid)


async def call_credentials(services: Services, phone_number_id: str | None) -> Credentials | None:
    """An imported number's own Twilio sid/token, read from the database (any replica may need them)."""
    if not phone_number_id:
        return None
    async with services.db.session() as session:
        number = await numbers_repo.get_phone_number(session, phone_number_id)
    if number is None or not number.twilio_sid or not number.twilio_token:
        return None
    return (number.twilio_sid, number.twilio_token)
