"""``GET /v1/convai/conversation/get-signed-url`` and the realtime socket ``WS /v1/convai/conversation``.

The socket is refused (close 1008, before any message of ours) unless it carries a good, unused, unexpired
``conversation_signature`` for this agent or a valid ``xi-api-key`` header. Then the client's
``conversation_initiation_client_data`` picks audio or text-only mode, a conversation is stored as a web call,
and ``conversation_initiation_metadata`` answers with its id.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel
from starlette.websockets import WebSocketState

from sdr_agent.api.deps import ServicesDep, key_is_valid, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.ws_guard import guard_receive
from sdr_agent.logs import bind_call
from sdr_agent.services import Services
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos.agents import Agent, get_agent
from sdr_agent.storage.repos.jsonmerge import deep_merge
from sdr_agent.web import protocol, signing
from sdr_agent.web.audio_format import AudioFormat, UnsupportedFormat
from sdr_agent.web.transport import SocketSender

log = logging.getLogger(__name__)
router = APIRouter(tags=["conversation"])

POLICY_VIOLATION = 1008
INIT_TIMEOUT_S = 10.0


class SignedUrlResponse(BaseModel):
    signed_url: str


@router.get(
    "/v1/convai/conversation/get-signed-url",
    response_model=SignedUrlResponse,
    dependencies=[Depends(require_api_key)],
)
async def get_signed_url(
    request: Request, services: ServicesDep, agent_id: Annotated[str, Query(min_length=1, max_length=64)]
) -> SignedUrlResponse:
    async with services.db.session() as db:
        if await get_agent(db, agent_id) is None:
            raise NotFoundError("agent", agent_id)
    base = signing.socket_base(services.settings.public_base_url, str(request.base_url))
    await signing.purge_expired(services)
    signed = await signing.issue(services, agent_id, base)
    return SignedUrlResponse(signed_url=signed.url)


@dataclass(frozen=True, slots=True)
class Formats:
    user_input: AudioFormat
    agent_output: AudioFormat


def _formats(config: dict[str, Any]) -> Formats:
    asr = config.get("asr") if isinstance(config.get("asr"), dict) else {}
    tts = config.get("tts") if isinstance(config.get("tts"), dict) else {}
    return Formats(
        user_input=AudioFormat.parse((asr or {}).get("user_input_audio_format")),
        agent_output=AudioFormat.parse((tts or {}).get("agent_output_audio_format")),
    )


async def _authorised(websocket: WebSocket, services: Services, agent_id: str) -> str | None:
    """None when the socket may proceed, else the reason it is refused."""
    if key_is_valid(websocket.headers.get("xi-api-key"), services.settings):
        return None
    if getattr(websocket.app.state, "insecure_dev", False) and not services.settings.api_keys:
        return None
    return await signing.consume(services, agent_id, websocket.query_params.get("conversation_signature"))


async def _first_message(websocket: WebSocket) -> tuple[protocol.InitiationData, protocol.ClientEvent | None]:
    """The client's initiation data; a client that starts with something else gets the defaults, and that
    first message is handed back so it is not lost."""
    raw = await asyncio.wait_for(websocket.receive_text(), INIT_TIMEOUT_S)
    try:
        event = protocol.parse_client_message(raw)
    except protocol.MalformedMessage:
        return protocol.InitiationData(), None
    if isinstance(event, protocol.InitiationData):
        return event, None
    return protocol.InitiationData(), event


@router.websocket("/v1/convai/conversation")
async def conversation_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    agent_id = websocket.query_params.get("agent_id") or ""
    await websocket.accept()
    guard_receive(websocket, "conversation")  # oversized frames (1009) and floods (1008) close the socket
    refusal = await _authorised(websocket, services, agent_id) if agent_id else "missing agent_id"
    agent: Agent | None = None
    if refusal is None:
        async with services.db.session() as db:
            agent = await get_agent(db, agent_id)
        refusal = None if agent is not None else "unknown agent"
    if refusal is not None or agent is None:
        await _refuse(websocket, refusal or "refused")
        return
    try:
        init, first = await _first_message(websocket)
    except (TimeoutError, WebSocketDisconnect, RuntimeError):
        await _refuse(websocket, "expected conversation_initiation_client_data")
        return
    config = deep_merge(agent.conversation_config, init.agent_override)
    try:
        formats = _formats(config)
    except UnsupportedFormat as exc:
        await _refuse(websocket, str(exc))
        return
    text_only = init.text_only or bool((config.get("conversation") or {}).get("text_only"))
    async with services.db.session() as db:
        conversation = await conversations_repo.create_conversation(
            db, agent_id=agent.agent_id, direction="web",
            dynamic_variables={str(k): v for k, v in init.dynamic_variables.items()},
            config_override=init.agent_override,
            metadata={"web_call": {
                "type": "web", "mode": "text" if text_only else "audio", "source": init.source or "unknown",
                "user_id": init.user_id, "user_input_audio_format": formats.user_input.name,
                "agent_output_audio_format": formats.agent_output.name,
            }},
        )
    sender = SocketSender(websocket)
    await sender.send(protocol.initiation_metadata(
        conversation.conversation_id, formats.agent_output.name, formats.user_input.name
    ))
    conversation_id = conversation.conversation_id
    with bind_call(call_sid=f"web-{conversation_id}", conversation_id=conversation_id):
        if text_only:
            from sdr_agent.web.text_chat import run_text_chat

            await run_text_chat(websocket, services, conversation, agent, sender, first)
        else:
            from sdr_agent.web.voice_chat import run_voice_chat

            await run_voice_chat(websocket, services, conversation, agent, sender, formats, first)


async def _refuse(websocket: WebSocket, reason: str) -> None:
    log.warning("refusing realtime conversation socket: %s", reason)
    if websocket.client_state is WebSocketState.CONNECTED:
        await websocket.close(code=POLICY_VIOLATION, reason=reason[:120])
