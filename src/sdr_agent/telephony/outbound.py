"""Placing an outbound call: validate, record the conversation, ask Twilio to dial.

Both outbound endpoints (the seed's and ElevenLabs') and anything that dials in bulk go through
``place_outbound_call``. The conversation is committed *before* Twilio is asked, because Twilio's webhooks
for the call can arrive before the REST request returns; they find it by the ``conversation_id`` carried in
the webhook URLs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.services import Services
from sdr_agent.storage.models import utcnow
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.locking import begin_write
from sdr_agent.telephony import variables
from sdr_agent.telephony.call_config import TelephonyCallConfig
from sdr_agent.telephony.twilio.rest import TwilioError, twilio_gateway
from sdr_agent.telephony.twilio.signature import public_url

log = logging.getLogger(__name__)

E164_PATTERN = r"^\+[1-9]\d{1,14}$"
_E164 = re.compile(E164_PATTERN)
VOICE_OUTBOUND_PATH = "/twiml/voice_outbound"
STATUS_CALLBACK_PATH = "/twiml/status"
AMD_CALLBACK_PATH = "/twiml/amd"


class CallSetupError(Exception):
    """The call cannot be placed; ``status_code`` is what the API answers."""

    def __init__(self, status_code: int, detail: str, conversation_id: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.conversation_id = conversation_id


@dataclass(frozen=True, slots=True)
class OutboundCallRequest:
    agent_id: str
    to_number: str
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    config_override: dict[str, Any] = field(default_factory=dict)
    # ElevenLabs' agent_phone_number_id; None = the agent's assigned number, else SDR_TWILIO_FROM_NUMBER.
    phone_number_id: str | None = None
    # ElevenLabs' telephony_call_config: ring time and Twilio answering-machine detection.
    telephony: TelephonyCallConfig = field(default_factory=TelephonyCallConfig)


@dataclass(frozen=True, slots=True)
class PlacedCall:
    conversation_id: str
    call_sid: str


@dataclass(frozen=True, slots=True)
class _CallingNumber:
    e164: str
    phone_number_id: str | None
    account_sid: str | None
    auth_token: str | None


def is_e164(number: str) -> bool:
    return bool(_E164.match(number))


def webhook_url(services: Services, path: str, conversation_id: str) -> str:
    return public_url(
        services.settings.public_base_url, path, urlencode({"conversation_id": conversation_id})
    )


async def place_outbound_call(services: Services, request: OutboundCallRequest) -> PlacedCall:
    """Raises CallSetupError: 404 unknown agent/number, 400 bad request or Twilio refusal, 502 Twilio down."""
    if not is_e164(request.to_number):
        raise CallSetupError(
            422, f"to_number {request.to_number!r} is not an E.164 number (e.g. +15551234567)"
        )
    async with services.db.session() as session:
        prepared = await prepare_outbound_call(session, services, request, new_id("conv"))
    placed = await dial_prepared(services, prepared)
    log.info("outbound call %s placed for conversation %s", placed.call_sid, placed.conversation_id)
    return placed


async def _record_conversation(
    session: AsyncSession,
    agent: agents_repo.Agent,
    number: _CallingNumber,
    request: OutboundCallRequest,
    conversation_id: str,
) -> None:
    provided = _check_variables(agent.conversation_config, request)
    dynamic = {
        **variables.placeholder_defaults(agent.conversation_config),
        **provided,
        **variables.system_variables(
            agent_id=agent.agent_id,
            conversation_id=conversation_id,
            caller_id=number.e164,
            called_number=request.to_number,
            call_sid=None,
        ),
    }
    metadata: dict[str, Any] = {"phone_call": _phone_call_metadata(number, request.to_number)}
    amd = request.telephony.machine_detection
    if amd is not None:
        # Read back by the AMD callback (any replica): what to do with each verdict.
        metadata["answering_machine_detection"] = {
            "mode": amd.mode,
            "hang_up_on": sorted(amd.hang_up_on),
            "answered_by": None,
        }
    await conversations_repo.create_conversation(
        session,
        conversation_id=conversation_id,
        agent_id=agent.agent_id,
        direction="outbound",
        status="initiated",
        from_number=number.e164,
        to_number=request.to_number,
        phone_number_id=number.phone_number_id,
        dynamic_variables=dynamic,
        config_override=dict(request.config_override),
        metadata=metadata,
    )


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A conversation recorded for a call not yet placed (the dialer commits it with the attempt)."""

    conversation_id: str
    to_number: str
    number: _CallingNumber
    telephony: TelephonyCallConfig


async def prepare_outbound_call(
    session: AsyncSession, services: Services, request: OutboundCallRequest, conversation_id: str
) -> PreparedCall:
    """Validate and record the conversation in the caller's transaction; raises CallSetupError."""
    if not is_e164(request.to_number):
        raise CallSetupError(422, f"to_number {request.to_number!r} is not an E.164 number")
    agent = await agents_repo.get_agent(session, request.agent_id)
    if agent is None:
        raise CallSetupError(404, f"agent '{request.agent_id}' not found")
    number = await _calling_number(session, services, request)
    await _record_conversation(session, agent, number, request, conversation_id)
    return PreparedCall(conversation_id, request.to_number, number, request.telephony)


async def dial_prepared(services: Services, prepared: PreparedCall) -> PlacedCall:
    """Ask Twilio to place a prepared call; on refusal the conversation is marked failed."""
    conversation_id = prepared.conversation_id
    try:
        call_sid = await _create_call(
            services, prepared.to_number, prepared.number, prepared.telephony, conversation_id
        )
    except TwilioError as exc:
        await _mark_failed(services, conversation_id, exc)
        raise CallSetupError(_api_status(exc), _describe(exc, conversation_id), conversation_id) from exc
    await record_call_sid(services, conversation_id, call_sid)
    return PlacedCall(conversation_id=conversation_id, call_sid=call_sid)


async def _create_call(
    services: Services,
    to_number: str,
    number: _CallingNumber,
    telephony: TelephonyCallConfig,
    conversation_id: str,
) -> str:
    amd = telephony.machine_detection
    return await twilio_gateway(services).create_call(
        to=to_number,
        from_=number.e164,
        url=webhook_url(services, VOICE_OUTBOUND_PATH, conversation_id),
        status_callback=webhook_url(services, STATUS_CALLBACK_PATH, conversation_id),
        account_sid=number.account_sid,
        auth_token=number.auth_token,
        machine_detection=amd.twilio_mode if amd else None,
        amd_callback=webhook_url(services, AMD_CALLBACK_PATH, conversation_id) if amd else None,
        timeout_s=telephony.ringing_timeout_secs,
    )


async def record_call_sid(services: Services, conversation_id: str, call_sid: str) -> None:
    """Store the call sid once (the TwiML webhook and the REST answer race to do it; both write the same)."""
    async with services.db.session() as session:
        await begin_write(session)
        conversation = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
        if conversation is not None:
            await store_call_sid(session, conversation, call_sid)


async def store_call_sid(
    session: AsyncSession, conversation: conversations_repo.Conversation, call_sid: str
) -> None:
    """Tie a call to its conversation: the column, ``system__call_sid`` and the phone-call metadata together
    (whichever of the REST answer, the TwiML webhook and a status callback comes first)."""
    if conversation.call_sid not in (None, call_sid):
        log.warning(
            "conversation %s already has call %s, not %s",
            conversation.conversation_id,
            conversation.call_sid,
            call_sid,
        )
        return
    stored = conversation.dynamic_variables.get("system__call_sid")
    if conversation.call_sid == call_sid and stored == call_sid:
        return
    await conversations_repo.update_conversation(
        session,
        conversation.conversation_id,
        call_sid=call_sid,
        dynamic_variables={**conversation.dynamic_variables, "system__call_sid": call_sid},
    )
    await conversations_repo.merge_conversation_metadata(
        session, conversation.conversation_id, {"phone_call": {"call_sid": call_sid}}
    )


async def _calling_number(
    session: AsyncSession, services: Services, request: OutboundCallRequest
) -> _CallingNumber:
    if request.phone_number_id is not None:
        number = await numbers_repo.get_phone_number(session, request.phone_number_id)
        if number is None:
            raise CallSetupError(404, f"phone number '{request.phone_number_id}' not found")
        if not number.supports_outbound:
            raise CallSetupError(400, f"phone number {number.phone_number} does not support outbound calls")
    else:
        number = await numbers_repo.get_phone_number_for_agent(session, request.agent_id)
    if number is not None:
        return _CallingNumber(
            number.phone_number, number.phone_number_id, number.twilio_sid, number.twilio_token
        )
    default = services.settings.twilio_from_number
    if not default:
        raise CallSetupError(
            400, "no number to call from: assign a phone number to the agent or set SDR_TWILIO_FROM_NUMBER"
        )
    return _CallingNumber(default, None, None, None)


def _check_variables(conversation_config: dict[str, Any], request: OutboundCallRequest) -> dict[str, Any]:
    provided = dict(request.dynamic_variables)
    reserved = variables.reserved_names(provided)
    if reserved:
        raise CallSetupError(
            400, f"dynamic variables starting with 'system__' are reserved: {', '.join(reserved)}"
        )
    available = {**variables.placeholder_defaults(conversation_config), **provided}
    missing = variables.missing_variables(
        variables.effective_texts(conversation_config, request.config_override),
        available,
    )
    if missing:
        raise CallSetupError(400, f"missing dynamic variables: {', '.join(missing)}")
    return provided


def _phone_call_metadata(number: _CallingNumber, external_number: str) -> dict[str, Any]:
    return {
        "type": "twilio",
        "direction": "outbound",
        "phone_number_id": number.phone_number_id,
        "agent_number": number.e164,
        "external_number": external_number,
        "call_sid": None,
        "stream_sid": None,
    }


def _api_status(exc: TwilioError) -> int:
    # A Twilio 4xx means this request cannot succeed as asked (bad number, bad credentials): the client's
    # problem. Twilio 5xx or no answer at all is an upstream failure.
    return 400 if exc.is_client_error else 502


def _describe(exc: TwilioError, conversation_id: str) -> str:
    code = f" (Twilio error {exc.code})" if exc.code else ""
    verb = "rejected the call" if exc.is_client_error else "failed"
    return f"Twilio {verb}{code}: {exc.message}; conversation {conversation_id} marked failed"


def termination_reason_for(exc: TwilioError) -> str:
    code = f" {exc.code}" if exc.code else ""
    return f"twilio error{code}: {exc.message}"[:255]


async def _mark_failed(services: Services, conversation_id: str, exc: TwilioError) -> None:
    reason = termination_reason_for(exc)
    async with services.db.session() as session:
        await conversations_repo.update_conversation(
            session, conversation_id, status="failed", termination_reason=reason, ended_at=utcnow()
        )
        await conversations_repo.merge_conversation_metadata(
            session,
            conversation_id,
            {
                "termination_reason": reason,
                "error": {"code": exc.code, "message": exc.message, "status": exc.status},
            },
        )
