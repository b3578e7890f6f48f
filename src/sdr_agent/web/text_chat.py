"""A text-only conversation on the realtime socket: ``user_message`` in, one ``agent_response`` per turn.

The call is set up by the same ``create_session`` as a phone call (the same dialogue, tools, storage sink,
analysis and post-call webhooks) but never started: no STT, TTS or audio clock runs. When the agent ends the
call, the socket closes with 1000 after its last reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import WebSocket, WebSocketDisconnect

from sdr_agent.services import Services
from sdr_agent.storage.repos.agents import Agent
from sdr_agent.storage.repos.conversations import Conversation
from sdr_agent.voice.ports import CallOutcome, CallRecordSink
from sdr_agent.voice.runtime import create_session, forget_session
from sdr_agent.web import protocol
from sdr_agent.web.client_tools import ClientToolBridge
from sdr_agent.web.text_turns import TextConversation
from sdr_agent.web.transport import SocketSender

log = logging.getLogger(__name__)


class NoAudio:
    """MediaTransport of a text chat: there is no audio, so nothing may ever be sent."""

    async def send_media(self, ulaw: bytes) -> None:
        raise RuntimeError("a text-only conversation has no audio")

    async def send_mark(self, name: str) -> None:
        raise RuntimeError("a text-only conversation has no audio")

    async def send_clear(self) -> None:
        return None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


async def run_text_chat(
    websocket: WebSocket,
    services: Services,
    conversation: Conversation,
    agent: Agent,
    sender: SocketSender,
    first: protocol.ClientEvent | None,
) -> None:
    call_sid = f"web-{conversation.conversation_id}"
    tools = ClientToolBridge(sender.send, services.settings.realtime.client_tool_timeout_s)
    session = await create_session(
        services, conversation=conversation, agent=agent, stream_sid=call_sid, call_sid=call_sid,
        transport=NoAudio(), control=None, client_tools=tools.run,
    )
    sink = session.deps.sink
    await sink.merge_metadata({"phone_call": None})
    chat = TextConversation(session.deps.dialogue)
    ended_ok, reason = True, "client ended the conversation"
    try:
        reply, record = await chat.opening()
        if reply is not None and record is not None:
            await sink.save_turn(record)
            await sender.send(protocol.agent_response(reply.text))
        ended_ok, reason = await _serve(websocket, services, chat, sink, sender, tools, first)
    except Exception:
        log.exception("text conversation failed")
        ended_ok, reason = False, "server error"
    finally:
        forget_session(services, call_sid)
        outcome = CallOutcome(
            ended_ok=ended_ok, termination_reason=reason, duration_secs=chat.elapsed(),
            dialogue_state=_snapshot(chat), stats={"mode": "text"},
        )
        try:
            await sink.finish(outcome)
        except Exception:
            log.exception("finishing the text conversation failed")
        await sender.close(1000, "conversation ended")


async def _read(
    websocket: WebSocket, tools: ClientToolBridge, messages: asyncio.Queue[str | None]
) -> None:
    """Reads the socket all the time, so a client tool result is seen while its turn is still running."""
    try:
        while True:
            try:
                raw = await websocket.receive_text()
            except KeyError:
                continue  # a binary frame: skipped like any malformed message
            try:
                event = protocol.parse_client_message(raw)
            except protocol.MalformedMessage as exc:
                log.debug("skipping malformed realtime message: %s", exc)
                continue
            if isinstance(event, protocol.ClientToolResult):
                tools.resolve(event)
            elif isinstance(event, protocol.UserMessage) and event.text.strip():
                messages.put_nowait(event.text.strip())
            # Audio in a text chat, pongs, activity and context updates need no answer here.
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        tools.close()
        messages.put_nowait(None)


async def _serve(
    websocket: WebSocket,
    services: Services,
    chat: TextConversation,
    record_sink: CallRecordSink,
    sender: SocketSender,
    tools: ClientToolBridge,
    first: protocol.ClientEvent | None,
) -> tuple[bool, str]:
    messages: asyncio.Queue[str | None] = asyncio.Queue()
    if isinstance(first, protocol.UserMessage) and first.text.strip():
        messages.put_nowait(first.text.strip())
    reader = asyncio.create_task(_read(websocket, tools, messages), name="text-chat-reader")
    try:
        while True:
            try:
                text = await asyncio.wait_for(messages.get(), services.settings.realtime.idle_timeout_s)
            except TimeoutError:
                return True, "no message from the client"
            if text is None:
                return True, "client ended the conversation"
            user, reply, agent_record = await chat.answer(text)
            await record_sink.save_turn(user)
            if agent_record is not None:
                await record_sink.save_turn(agent_record)
                await sender.send(protocol.agent_response(reply.text))
            if reply.end_call:
                return True, "agent ended the call"
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def _snapshot(chat: TextConversation) -> dict[str, object]:
    try:
        return dict(chat.dialogue.state_snapshot())
    except Exception:
        log.exception("dialogue state snapshot failed")
        return {}
