"""The caller's side of a turn: utterances (VAD segments) and their recognised text."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(eq=False)
class Utterance:
    started_at: float
    ended_at: float | None = None
    partial: str = ""
    final: str | None = None
    discarded: bool = False
    over_agent: bool = False  # began while the agent was talking
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def resolve(self, text: str) -> None:
        self.final = text.strip()
        self.done.set()

    @property
    def text(self) -> str:
        return self.final if self.final is not None else self.partial


@dataclass(eq=False)
class CallerTurn:
    utterances: list[Utterance] = field(default_factory=list)
    last_voice_at: float | None = None

    @property
    def over_agent(self) -> bool:
        return bool(self.utterances) and all(u.over_agent for u in self.utterances)

    @property
    def started_at(self) -> float | None:
        return self.utterances[0].started_at if self.utterances else None

    async def text(self, timeout: float) -> str:
        """Joined finals of the turn's utterances (waits for outstanding finals, up to ``timeout``)."""
        pending = [asyncio.ensure_future(u.done.wait()) for u in self.utterances if not u.done.is_set()]
        if pending:
            try:
                await asyncio.wait(pending, timeout=timeout)
            finally:
                for waiter in pending:
                    waiter.cancel()
        parts = [u.text for u in self.utterances if not u.discarded and u.text]
        return " ".join(parts).strip()
