"""One agent turn: the sentences it queued, what the caller heard of them, and its metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sdr_agent.dialogue.base import EndCall, TransferCall
from sdr_agent.voice.player import PacedPlayer


@dataclass
class AgentTurn:
    started_at: float
    interruptible: bool = True
    caller_end_at: float | None = None  # caller end-of-speech that this turn answers
    answers_question: bool = False  # the caller asked something: a slow answer may start with a filler
    segments: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    end_call: EndCall | None = None
    transfer: TransferCall | None = None
    task: asyncio.Task[None] | None = None
    producing: bool = True
    interrupted: bool = False
    closed: bool = False
    first_audio_at: float | None = None
    backchannels: int = 0
    hiccups: int = 0
    echo_ignored: int = 0
    bargein_detect_ms: float | None = None  # speech onset → agent stopped sending
    stop_latency_ms: float | None = None  # speech onset → caller stopped hearing the agent
    clear_latency_ms: float | None = None  # speech onset → clear sent (interruption confirmed by words)
    stages: dict[str, float] = field(default_factory=dict)  # stage name -> seconds since caller end
    engine_errors: int = 0

    def mark_stage(self, name: str, at: float) -> None:
        if self.caller_end_at is not None and name not in self.stages:
            self.stages[name] = round((at - self.caller_end_at) * 1000.0, 1)

    def all_played(self, player: PacedPlayer) -> bool:
        return not self.producing and all(player.segment(s).played for s in self.segments)

    def spoken_text(self) -> str:
        return " ".join(self.texts)

    def heard_text(self, player: PacedPlayer, at: float) -> str:
        """Only the words the caller actually heard (whole sentences played, plus the played share of
        the sentence that was cut)."""
        heard: list[str] = []
        for segment_id, text in zip(self.segments, self.texts, strict=False):
            fraction = player.segment(segment_id).played_fraction(at)
            if fraction >= 0.999:
                heard.append(text)
                continue
            words = text.split()
            count = int(len(words) * fraction)
            if count:
                heard.append(" ".join(words[:count]))
            break
        return " ".join(heard)

    def rest_after_a_stop(self, player: PacedPlayer, at: float) -> str:
        """What to say again after this turn was stopped by mistake ("" when it was not stopped, or ended
        with a hang-up or a transfer, which are not repeated)."""
        if not self.interrupted or self.end_call or self.transfer:
            return ""
        return self.unheard_text(player, at)

    def unheard_text(self, player: PacedPlayer, at: float) -> str:
        """The sentence the caller did not hear to its end, whole, and every sentence after it."""
        for index, segment_id in enumerate(self.segments):
            if player.segment(segment_id).played_fraction(at) < 0.999:
                return " ".join(text for text in self.texts[index:] if text)
        return ""

    @property
    def latency_ms(self) -> float | None:
        if self.caller_end_at is None or self.first_audio_at is None:
            return None
        return round((self.first_audio_at - self.caller_end_at) * 1000.0, 1)

    def metrics(self) -> dict[str, Any]:
        return {
            "stages_ms": dict(self.stages),
            "stop_latency_ms": self.stop_latency_ms,
            "clear_latency_ms": self.clear_latency_ms,
            "backchannels": self.backchannels,
            "hiccups": self.hiccups,
            "echo_ignored": self.echo_ignored,
            "engine_errors": self.engine_errors,
        }
