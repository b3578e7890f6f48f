"""Outbound calls: the seed's ``POST /v1/convai/outbound`` and ElevenLabs' ``.../twilio/outbound-call``.

Both do the same thing through ``telephony.outbound.place_outbound_call``; they differ only in shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from sdr_agent.api.deps import ServicesDep, require_api_key
from sdr_agent.telephony.call_config import CallConfigError, TelephonyCallConfig, parse_call_config
from sdr_agent.telephony.hangup import HangupError, hang_up_conversation, transfer_conversation
from sdr_agent.telephony.outbound import (
    E164_PATTERN,
    CallSetupError,
    OutboundCallRequest,
    PlacedCall,
    place_outbound_call,
)
from sdr_agent.telephony.variables import VariableValue

router = APIRouter(prefix="/v1/convai", tags=["calls"], dependencies=[Depends(require_api_key)])

E164Number = Annotated[str, Field(pattern=E164_PATTERN, description="E.164, e.g. +15551234567")]
INITIATED_MESSAGE = "Call initiated"


class SeedOutboundBody(BaseModel):
    agent_id: str = Field(min_length=1, max_length=64)
    to_number: E164Number
    dynamic_variables: dict[str, VariableValue] = Field(default_factory=dict)


class SeedOutboundResponse(BaseModel):
    call_sid: str
    status: str
    message: str
    conversation_id: str


class ConversationInitiationClientData(BaseModel):
    dynamic_variables: dict[str, VariableValue] = Field(default_factory=dict)
    conversation_config_override: dict[str, Any] | None = None
    user_id: str | None = None


class TwilioOutboundBody(BaseModel):
    agent_id: str = Field(min_length=1, max_length=64)
    agent_phone_number_id: str | None = Field(default=None, max_length=64)
    to_number: E164Number
    conversation_initiation_client_data: ConversationInitiationClientData | None = None
    # {ringing_timeout_secs, twilio_machine_detection {mode, actions}}: validated by parse_call_config.
    telephony_call_config: dict[str, Any] | None = None


class TwilioOutboundResponse(BaseModel):
    success: bool
    message: str
    conversation_id: str | None
    callSid: str | None  # ElevenLabs spells it this way


async def _place(services: ServicesDep, request: OutboundCallRequest) -> PlacedCall:
    try:
        return await place_outbound_call(services, request)
    except CallSetupError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc


@router.post("/outbound", response_model=SeedOutboundResponse)
async def outbound(body: SeedOutboundBody, services: ServicesDep) -> SeedOutboundResponse:
    placed = await _place(
        services,
        OutboundCallRequest(
            agent_id=body.agent_id, to_number=body.to_number, dynamic_variables=dict(body.dynamic_variables)
        ),
    )
    return SeedOutboundResponse(
        call_sid=placed.call_sid,
        status="initiated",
        message=INITIATED_MESSAGE,
        conversation_id=placed.conversation_id,
    )


@router.post("/twilio/outbound-call", response_model=TwilioOutboundResponse)
async def twilio_outbound_call(body: TwilioOutboundBody, services: ServicesDep) -> TwilioOutboundResponse:
    client_data = body.conversation_initiation_client_data or ConversationInitiationClientData()
    telephony = _call_config(body.telephony_call_config)
    placed = await _place(
        services,
        OutboundCallRequest(
            agent_id=body.agent_id,
            to_number=body.to_number,
            dynamic_variables=dict(client_data.dynamic_variables),
            config_override=dict(client_data.conversation_config_override or {}),
            phone_number_id=body.agent_phone_number_id,
            telephony=telephony,
        ),
    )
    return TwilioOutboundResponse(
        success=True,
        message=INITIATED_MESSAGE,
        conversation_id=placed.conversation_id,
        callSid=placed.call_sid,
    )


class HangupResponse(BaseModel):
    conversation_id: str
    call_sid: str
    status: str


@router.post("/conversations/{conversation_id}/hangup", response_model=HangupResponse)
async def hang_up(conversation_id: str, services: ServicesDep) -> HangupResponse:
    """Put down a live phone call, whichever worker or replica holds its media stream (Twilio stops it)."""
    try:
        done = await hang_up_conversation(services, conversation_id)
    except HangupError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
    return HangupResponse(conversation_id=done.conversation_id, call_sid=done.call_sid, status="completing")


class TransferBody(BaseModel):
    phone_number: E164Number


@router.post("/conversations/{conversation_id}/transfer", response_model=HangupResponse)
async def transfer(conversation_id: str, body: TransferBody, services: ServicesDep) -> HangupResponse:
    """Hand a live phone call to a person (``<Dial>``), whichever worker or replica holds its media stream."""
    try:
        done = await transfer_conversation(services, conversation_id, body.phone_number)
    except HangupError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
    return HangupResponse(conversation_id=done.conversation_id, call_sid=done.call_sid, status="transferring")


def _call_config(data: dict[str, Any] | None) -> TelephonyCallConfig:
    try:
        return parse_call_config(data)
    except CallConfigError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
