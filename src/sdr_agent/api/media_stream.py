"""`WS /ws/voice/{call_sid}`: the Twilio Media Streams endpoint.

The socket must open with ``connected`` + ``start`` carrying the per-call token from the TwiML
``<Parameter>``; anything else closes with 1008 before a session exists. After that every frame is
parsed by the pure serializer and dispatched to the call's CallSession; malformed frames are counted
and skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from sdr_agent.api.ws_guard import FrameGuard, SocketAbuse, count_rejection, no_start, socket_limits
from sdr_agent.engines.fallback import switches_reported_to
from sdr_agent.logs import bind_call
from sdr_agent.services import Services
from sdr_agent.storage.repos.agents import get_agent
from sdr_agent.storage.repos.conversations import get_conversation_by_call_sid
from sdr_agent.telephony.answer import call_credentials
from sdr_agent.telephony.twilio import serializer as wire
from sdr_agent.telephony.twilio.call_control import TwilioCallControl
from sdr_agent.telephony.twilio.rest import twilio_gateway
from sdr_agent.telephony.twilio.tokens import call_tokens
from sdr_agent.voice.runtime import create_session, forget_session, voice_runtime
from sdr_agent.voice.session import CallSession

log = logging.getLogger(__name__)
router = APIRouter()

POLICY_VIOLATION = 1008


class WebSocketTransport:
    """MediaTransport over the Starlette WebSocket; one lock so frames, marks and clears never interleave."""

    def __init__(self, websocket: WebSocket, stream_sid: str) -> None:
        self._ws = websocket
        self._stream_sid = stream_sid
        self._lock = asyncio.Lock()
        self.closed_by_agent = False

    async def _send(self, text: str) -> None:
        if self._ws.client_state is not WebSocketState.CONNECTED or self._ws.application_state is not (
            WebSocketState.CONNECTED
        ):
            return
        async with self._lock:
            try:
                await self._ws.send_text(text)
            except (RuntimeError, OSError):
                # The socket closed under us (hang-up racing playback): nothing left to play to.
                log.debug("media stream closed while sending")

    async def send_media(self, ulaw: bytes) -> None:
        await self._send(wire.media_message(self._stream_sid, ulaw))

    async def send_mark(self, name: str) -> None:
        await self._send(wire.mark_message(self._stream_sid, name))

    async def send_clear(self) -> None:
        await self._send(wire.clear_message(self._stream_sid))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_by_agent = True
        if self._ws.client_state is WebSocketState.CONNECTED:
            await self._ws.close(code=code, reason=reason)


async def _receive(websocket: WebSocket, guard: FrameGuard) -> str | bytes:
    """The next frame, text or binary (binary is invalid on a Media Stream, but must not crash us).
    Raises SocketAbuse for an oversized frame or a flood (``api.ws_guard``)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    frame = str(text) if text is not None else bytes(message.get("bytes") or b"")
    guard.check(frame)
    return frame


async def _handshake(websocket: WebSocket, guard: FrameGuard) -> wire.Start | None:
    """Read up to the ``start`` message (``connected`` first, as Twilio sends it), all within one deadline:
    a client that keeps sending ``connected`` must not hold the socket open forever."""
    async with asyncio.timeout(guard.limits.start_timeout_s):
        return await _read_start(websocket, guard)


async def _read_start(websocket: WebSocket, guard: FrameGuard) -> wire.Start | None:
    while True:
        raw = await _receive(websocket, guard)
        try:
            event = wire.parse_message(raw)
        except wire.MalformedMessage:
            return None
        if isinstance(event, wire.Connected):
            continue
        return event if isinstance(event, wire.Start) else None


@router.websocket("/ws/voice/{call_sid}")
async def media_stream(websocket: WebSocket, call_sid: str) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    guard = FrameGuard(socket_limits(websocket))
    try:
        start = await _handshake(websocket, guard)
    except TimeoutError:
        await _reject_abuse(websocket, call_sid, no_start(guard.limits))
        return
    except SocketAbuse as abuse:
        await _reject_abuse(websocket, call_sid, abuse)
        return
    except WebSocketDisconnect:
        start = None
    if start is None or start.call_sid != call_sid:
        await _refuse(websocket, call_sid, "expected a start message for this call")
        return
    if services.draining:
        await _refuse(websocket, call_sid, "server is shutting down")
        return
    if call_sid in voice_runtime(services).calls:
        # The token is single use, so this is only reachable by a bug; never let two streams share a call.
        await _refuse(websocket, call_sid, "this call already has a live media stream")
        return
    if not await call_tokens(services).consume(call_sid, start.custom_parameters.get("token")):
        await _refuse(websocket, call_sid, "missing, wrong, reused or expired stream token")
        return
    async with services.db.session() as db:
        conversation = await get_conversation_by_call_sid(db, call_sid)
        agent = await get_agent(db, conversation.agent_id) if conversation and conversation.agent_id else None
    if conversation is None or agent is None:
        await _refuse(websocket, call_sid, "no conversation or agent for this call")
        return
    # Every log line of this call (and of the tasks it starts) carries its call sid and conversation id.
    with bind_call(call_sid=call_sid, conversation_id=conversation.conversation_id):
        transport = WebSocketTransport(websocket, start.stream_sid)
        session = await create_session(
            services, conversation=conversation, agent=agent, stream_sid=start.stream_sid, call_sid=call_sid,
            transport=transport,
            control=TwilioCallControl(
                twilio_gateway(services), call_sid,
                await call_credentials(services, conversation.phone_number_id),
            ),
        )
        ended_ok, reason = False, "the call loop failed"
        try:
            with switches_reported_to(session.record_engine_switch):
                await session.start()
                ended_ok, reason = await _pump(websocket, session, transport, guard)
            if services.draining and not ended_ok:
                reason = "server shutting down"
        except Exception:
            # A recogniser that cannot open, a dead engine: the call still ends on the record (finish
            # runs), never "in progress" forever.
            log.exception("the call loop failed")
        finally:
            try:
                await session.finish(ended_ok=ended_ok, reason=reason)
            finally:
                forget_session(services, call_sid)


async def _pump(
    websocket: WebSocket, session: CallSession, transport: WebSocketTransport, guard: FrameGuard
) -> tuple[bool, str]:
    """Dispatch frames until the stream stops. Returns (ended normally, termination reason)."""
    while True:
        try:
            raw = await _receive(websocket, guard)
        except SocketAbuse as abuse:
            await _reject_abuse(websocket, session.call_sid, abuse)
            return False, f"media stream closed: {abuse.reason}"
        except WebSocketDisconnect:
            if transport.closed_by_agent:
                return True, "agent ended the call"
            return False, "media stream disconnected"
        except RuntimeError:
            # Starlette raises RuntimeError once our own close() has completed.
            return transport.closed_by_agent, "agent ended the call"
        try:
            event = wire.parse_message(raw)
        except wire.MalformedMessage as exc:
            session.stats.malformed_frames += 1
            log.debug("skipping malformed media stream message: %s", exc)
            continue
        try:
            if isinstance(event, wire.Media):
                if event.track == "inbound":
                    await session.on_media(event.payload)
            elif isinstance(event, wire.Mark):
                session.on_mark(event.name)
            elif isinstance(event, wire.Dtmf):
                await session.on_dtmf(event.digit)
            elif isinstance(event, wire.Stop):
                reason = "agent ended the call" if transport.closed_by_agent else "caller hung up"
                return True, reason
            else:
                session.stats.malformed_frames += 1  # a second connected/start is out of order
        except Exception:
            # The audio loop never dies: one bad frame must not end the call.
            session.stats.engine_errors += 1
            log.exception("error while handling a media stream event")


async def _refuse(websocket: WebSocket, call_sid: str, reason: str) -> None:
    with bind_call(call_sid=call_sid):
        log.warning("refusing media stream: %s", reason)
    if websocket.client_state is WebSocketState.CONNECTED:
        await websocket.close(code=POLICY_VIOLATION, reason=reason)


async def _reject_abuse(websocket: WebSocket, call_sid: str, abuse: SocketAbuse) -> None:
    with bind_call(call_sid=call_sid):
        log.warning("closing media stream: %s", abuse.reason)
    count_rejection(websocket, "media_stream", abuse.rejection)
    if websocket.client_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code=abuse.code, reason=abuse.reason)
