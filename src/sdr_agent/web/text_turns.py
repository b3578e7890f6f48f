"""One agent turn in text: the dialogue's events gathered into a single reply (no TTS, nothing to hear).

Shared by the text-only socket and simulate-conversation, so both answer exactly as a call's dialogue does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sdr_agent.dialogue.base import Dialogue, DialogueEvent, EndCall, SpeakText, ToolActivity, TransferCall
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.sentences import SentenceSplitter

log = logging.getLogger(__name__)


@dataclass
class TextReply:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    end_call: bool = False
    latency_ms: float | None = None  # request → first words of the reply
    metrics_error: bool = False


async def gather_reply(
    events: AsyncIterator[DialogueEvent], clock: Callable[[], float] = time.monotonic
) -> TextReply:
    started = clock()
    splitter = SentenceSplitter()
    sentences: list[str] = []
    reply = TextReply(text="")
    try:
        async for event in events:
            if isinstance(event, SpeakText):
                if reply.latency_ms is None:
                    reply.latency_ms = round((clock() - started) * 1000.0, 1)
                sentences.extend(splitter.feed(event.text))
            elif isinstance(event, ToolActivity):
                reply.tool_calls.append(event.tool_call)
                if event.tool_result is not None:
                    reply.tool_results.append(event.tool_result)
            elif isinstance(event, EndCall | TransferCall):
                # A chat cannot be transferred to a phone number: the handoff line is said and the chat ends.
                reply.end_call = True
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    sentences.extend(splitter.flush())
    reply.text = " ".join(s.strip() for s in sentences if s.strip())
    return reply


class TextConversation:
    """Turn bookkeeping of a text conversation: what to store for each side, with timings from the start."""

    def __init__(self, dialogue: Dialogue, clock: Callable[[], float] = time.monotonic) -> None:
        self.dialogue = dialogue
        self.clock = clock
        self.started_at = clock()

    def elapsed(self) -> float:
        return round(self.clock() - self.started_at, 2)

    async def opening(self) -> tuple[TextReply | None, TurnRecord | None]:
        line = self.dialogue.opening_line()
        if not line:
            return None, None
        reply = TextReply(text=line)
        self.dialogue.record_agent_turn(line, False)
        return reply, self._agent_record(reply, self.elapsed())

    async def answer(self, text: str) -> tuple[TurnRecord, TextReply, TurnRecord | None]:
        at = self.elapsed()
        events = self.dialogue.respond(text)
        notes = self.dialogue.annotate_user_turn()
        user = TurnRecord(
            role="user", message=text, time_in_call_secs=at, phase=notes.phase, intent=notes.intent,
            sentiment=notes.sentiment, metrics=dict(notes.extra),
        )
        try:
            reply = await gather_reply(events, self.clock)
        except Exception:
            # As on a call: an engine failure becomes the fallback line, and the conversation goes on.
            log.exception("dialogue failed in a text turn; answering with the fallback line")
            reply = TextReply(text=self.dialogue.fallback_line(), metrics_error=True)
        self.dialogue.record_agent_turn(reply.text, False)
        agent = self._agent_record(reply, self.elapsed()) if reply.text or reply.tool_calls else None
        return user, reply, agent

    def _agent_record(self, reply: TextReply, at: float) -> TurnRecord:
        return TurnRecord(
            role="agent", message=reply.text, time_in_call_secs=at, tool_calls=reply.tool_calls,
            tool_results=reply.tool_results, phase=self.dialogue.phase, latency_ms=reply.latency_ms,
            metrics={"mode": "text", "engine_errors": int(reply.metrics_error)},
        )
