"""Scripted replies shared by the Ollama and OpenAI-compatible stand-ins."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

_PIECE = re.compile(r"\s*\S+")


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()


def echo_reply(messages: list[dict[str, Any]]) -> ScriptedReply:
    """When the script runs out: repeat the last user message, so a test can tell replies apart."""
    last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    return ScriptedReply(text=f"You said: {last}" if last else "Hello from the stand-in.")


@dataclass
class ReplyScript:
    """Replies consumed one per request; ``default`` answers once the queue is empty."""

    replies: Iterable[ScriptedReply | str] = ()
    default: Callable[[list[dict[str, Any]]], ScriptedReply] = echo_reply
    _queue: deque[ScriptedReply] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        self.add(*self.replies)

    def add(self, *replies: ScriptedReply | str) -> None:
        self._queue.extend(r if isinstance(r, ScriptedReply) else ScriptedReply(text=r) for r in replies)

    def next(self, messages: list[dict[str, Any]]) -> ScriptedReply:
        return self._queue.popleft() if self._queue else self.default(messages)


def text_pieces(text: str) -> list[str]:
    """Token-like pieces that join back to the text (leading spaces kept, as servers stream them)."""
    return _PIECE.findall(text)
