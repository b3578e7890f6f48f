"""An audio conversation on the realtime socket: the phone call's CallSession behind RealtimeTransport.

Client audio arrives in chunks of any length (the SDK sends 250 ms); it is cut into the call loop's 20 ms
μ-law frames and fed in real time by a small pacer, so turn-taking and barge-in see the same cadence as on a
phone line. Everything else (turns, tools, storage, analysis, post-call webhooks) is the phone call's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import WebSocket, WebSocketDisconnect

from sdr_agent.engines.fallback import switches_reported_to
from sdr_agent.services import Services
from sdr_agent.storage.repos.agents import Agent
from sdr_agent.storage.repos.conversations import Conversation
from sdr_agent.voice.runtime import create_session, forget_session
from sdr_agent.voice.session import CallSession
from sdr_agent.web import protocol
from sdr_agent.web.audio_format import FRAME_BYTES, StreamConverter
from sdr_agent.web.client_tools import ClientToolBridge
from sdr_agent.web.event_sink import EventSink
from sdr_agent.web.pinger import Pinger
from sdr_agent.web.socket import Formats
from sdr_agent.web.transport import RealtimeTransport, SocketSender

log = logging.getLogger(__name__)
FRAME_S = 0.02
MAX_BACKLOG_FRAMES = 50 * 30  # 30 s of audio queued ahead of real time: a client flooding us is cut off


class FramePacer:
    """Feeds queued 20 ms frames to the session at real-time pace (bursty clients become a steady line)."""

    def __init__(self, session: CallSession) -> None:
        self._session = session
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._pending = b""

    def add(self, ulaw: bytes) -> bool:
        data = self._pending + ulaw
        cut = len(data) - len(data) % FRAME_BYTES
        self._pending = data[cut:]
        for start in range(0, cut, FRAME_BYTES):
            self._frames.put_nowait(data[start:start + FRAME_BYTES])
        return self._frames.qsize() <= MAX_BACKLOG_FRAMES

    async def run(self) -> None:
        next_at = time.monotonic()
        while True:
            frame = await self._frames.get()
            now = time.monotonic()
            if now > next_at + FRAME_S:
                next_at = now  # the line was quiet: start a fresh cadence
            elif next_at > now:
                await asyncio.sleep(next_at - now)
            next_at += FRAME_S
            try:
                await self._session.on_media(frame)
            except Exception:
                self._session.stats.engine_errors += 1
                log.exception("error while handling caller audio")


async def run_voice_chat(
    websocket: WebSocket,
    services: Services,
    conversation: Conversation,
    agent: Agent,
    sender: SocketSender,
    formats: Formats,
    first: protocol.ClientEvent | None,
) -> None:
    call_sid = f"web-{conversation.conversation_id}"
    transport = RealtimeTransport(sender, formats.agent_output)
    tools = ClientToolBridge(sender.send, services.settings.realtime.client_tool_timeout_s)
    session = await create_session(
        services, conversation=conversation, agent=agent, stream_sid=call_sid, call_sid=call_sid,
        transport=transport, control=None, client_tools=tools.run,
    )
    transport.on_mark = session.on_mark

    def interrupted_text() -> str | None:
        turn = session.agent_turn
        return turn.spoken_text() if turn is not None and turn.interrupted else None

    session.deps.sink = EventSink(session.deps.sink, sender.send, interrupted_text)
    # The shared sink files the call under metadata.phone_call; a web call has no phone.
    await session.deps.sink.merge_metadata({"phone_call": None})
    pacer = FramePacer(session)
    inbound = StreamConverter(formats.user_input, to_call=True)
    tasks = [asyncio.create_task(pacer.run(), name="web-pacer")]
    pinger = Pinger(sender)
    tasks.append(asyncio.create_task(pinger.run(), name="web-ping"))
    try:
        with switches_reported_to(session.record_engine_switch):
            await session.start()
            ended_ok, reason = await _pump(websocket, session, sender, pacer, inbound, pinger, tools, first)
        await session.finish(ended_ok=ended_ok, reason=reason)
    finally:
        tools.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        forget_session(services, call_sid)
        await sender.close(1000, "conversation ended")


async def _pump(
    websocket: WebSocket,
    session: CallSession,
    sender: SocketSender,
    pacer: FramePacer,
    inbound: StreamConverter,
    pinger: Pinger,
    tools: ClientToolBridge,
    first: protocol.ClientEvent | None,
) -> tuple[bool, str]:
    pending = first
    while True:
        if pending is not None:
            event: protocol.ClientEvent = pending
            pending = None
        else:
            try:
                raw = await websocket.receive_text()
            except WebSocketDisconnect:
                by_agent = sender.closed_by_agent
                return True, "agent ended the call" if by_agent else "client ended the conversation"
            except (RuntimeError, KeyError):
                # Starlette raises once our own close() has completed (or on a binary frame).
                if sender.closed_by_agent:
                    return True, "agent ended the call"
                session.stats.malformed_frames += 1
                continue
            try:
                event = protocol.parse_client_message(raw)
            except protocol.MalformedMessage as exc:
                session.stats.malformed_frames += 1
                log.debug("skipping malformed realtime message: %s", exc)
                continue
        if isinstance(event, protocol.UserAudioChunk):
            if not pacer.add(inbound.convert(event.audio)):
                await sender.close(1008, "audio sent much faster than real time")
                return False, "client flooded the audio stream"
        elif isinstance(event, protocol.Pong):
            pinger.on_pong(event.event_id)
        elif isinstance(event, protocol.ClientToolResult):
            tools.resolve(event)
        elif isinstance(event, protocol.UserMessage):
            if event.text.strip():
                session.on_caller_text(event.text.strip())  # answered aloud, like a spoken turn
        elif isinstance(event, protocol.InitiationData):
            session.stats.malformed_frames += 1  # a second initiation is out of order
        else:
            # user_activity and contextual_update have no meaning for the audio call loop yet; they are
            # accepted (the SDK sends some on its own) and noted.
            log.info("realtime message %s ignored in audio mode", type(event).__name__)
