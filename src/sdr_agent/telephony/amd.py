"""Twilio's asynchronous answering-machine-detection callback (``AsyncAmdStatusCallback``).

The verdict (``AnsweredBy``) is stored on the conversation. Then, per the call's ``twilio_machine_detection``:
a verdict listed under a ``hang_up`` action ends the call; ``machine_end_beep`` / ``machine_end_silence`` /
``machine_end_other`` (the greeting is over) otherwise make the agent leave its voicemail message — the live
call is redirected to ``<Say>message</Say><Hangup/>`` (Twilio closes the media stream and plays it), and the
message is written to the transcript as the agent's turn. Other verdicts leave the call running.
Any replica may receive the callback: everything it needs is read from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from sdr_agent.dialogue.voicemail import voicemail_message
from sdr_agent.services import Services
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import campaigns as campaigns_repo
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos.conversations import Conversation, TurnRecord
from sdr_agent.telephony.answer import call_credentials
from sdr_agent.telephony.call_config import ANSWERED_BY
from sdr_agent.telephony.twilio.rest import TwilioError, twilio_gateway
from sdr_agent.telephony.twilio.twiml import say_hangup_twiml

log = logging.getLogger(__name__)

MESSAGE_END = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
_TURN_WRITE_TRIES = 5
_STREAM_END_WAIT_S = 10.0
_PENDING: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class AmdResult:
    answered_by: str
    action: str  # none | hang_up | voicemail | ignored


async def apply_amd_callback(
    services: Services, form: Mapping[str, str], conversation_id: str | None
) -> AmdResult | None:
    answered_by = form.get("AnsweredBy", "").strip().lower()
    call_sid = form.get("CallSid", "")
    if answered_by not in ANSWERED_BY:
        log.info("AMD callback with unknown AnsweredBy %r for call %s", answered_by, call_sid)
        return None
    conversation = await _conversation(services, call_sid, conversation_id)
    if conversation is None:
        return None
    amd = conversation.metadata.get("answering_machine_detection")
    settings = amd if isinstance(amd, dict) else {}
    duration = _int(form.get("MachineDetectionDuration"))
    async with services.db.session() as session:
        await campaigns_repo.begin_write(session)
        await conversations_repo.merge_conversation_metadata(
            session,
            conversation.conversation_id,
            {
                "answering_machine_detection": {
                    "answered_by": answered_by,
                    "machine_detection_duration_ms": duration,
                }
            },
        )
    credentials = await call_credentials(services, conversation.phone_number_id)
    sid = conversation.call_sid or call_sid
    if answered_by in set(settings.get("hang_up_on") or []):
        try:
            await twilio_gateway(services).hangup(sid, credentials)
        except TwilioError as exc:
            log.warning("AMD hang-up of %s failed: %s", sid, exc)
        return AmdResult(answered_by, "hang_up")
    if answered_by in MESSAGE_END:
        left = await _leave_voicemail(services, conversation, sid, credentials)
        return AmdResult(answered_by, "voicemail" if left else "ignored")
    return AmdResult(answered_by, "none")


async def _leave_voicemail(
    services: Services, conversation: Conversation, call_sid: str, credentials: tuple[str, str] | None
) -> bool:
    async with services.db.session() as session:
        agent = await agents_repo.get_agent(session, conversation.agent_id) if conversation.agent_id else None
    if agent is None:
        return False
    message = voicemail_message(
        agent.conversation_config, agent_name=agent.name, values=conversation.dynamic_variables
    )
    try:
        await twilio_gateway(services).redirect(call_sid, say_hangup_twiml(message), credentials)
    except TwilioError as exc:
        # With detect_message_end the verdict may come after the machine hung up: nothing to say to.
        log.info("voicemail for call %s not left: %s", call_sid, exc)
        return False
    started = conversation.started_at or conversation.created_at
    elapsed = max(0.0, (datetime.now(UTC) - _aware(started)).total_seconds())
    # The redirect ends the media stream; the call's session then writes its own last turn (the greeting it
    # was saying to the machine). The message goes after it, so the transcript reads in call order.
    task = asyncio.create_task(
        _record_after_stream(services, conversation.conversation_id, message, elapsed),
        name=f"voicemail-turn-{conversation.conversation_id}",
    )
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)
    async with services.db.session() as session:
        await campaigns_repo.begin_write(session)
        await conversations_repo.merge_conversation_metadata(
            session,
            conversation.conversation_id,
            {"voicemail": {"message_left": True, "message": message}},
        )
    log.info("voicemail left on call %s", call_sid)
    return True


async def _record_after_stream(services: Services, conversation_id: str, message: str, at_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STREAM_END_WAIT_S
    while loop.time() < deadline:
        async with services.db.session() as session:
            found = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
        if found is None or found.status not in ("initiated", "in-progress"):
            break
        await asyncio.sleep(0.1)
    await _append_agent_turn(services, conversation_id, message, at_s)


async def _append_agent_turn(services: Services, conversation_id: str, message: str, at_s: float) -> None:
    # The call's own session may be writing its last turn at this moment (the redirect just ended its
    # stream): a clash on the turn number is retried with the next one.
    for attempt in range(_TURN_WRITE_TRIES):
        try:
            async with services.db.session() as session:
                await campaigns_repo.begin_write(session)
                await conversations_repo.append_turn(
                    session,
                    conversation_id,
                    TurnRecord(
                        role="agent", message=message, time_in_call_secs=at_s, metrics={"voicemail": True}
                    ),
                )
            return
        except IntegrityError:
            await asyncio.sleep(0.05 * (attempt + 1))
    log.warning("could not store the voicemail message in the transcript of %s", conversation_id)


async def _conversation(
    services: Services, call_sid: str, conversation_id: str | None
) -> Conversation | None:
    async with services.db.session() as session:
        if conversation_id:
            found = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
            if found is not None and found.call_sid not in (None, call_sid):
                return None
            return found
        return await conversations_repo.get_conversation_by_call_sid(session, call_sid) if call_sid else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
