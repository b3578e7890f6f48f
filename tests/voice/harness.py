"""Scripted-timeline harness for CallSession: a fake Twilio line (real-time playback, marks, clear),
a caller that streams 20 ms frames on an absolute clock, a scripted dialogue and an in-memory sink."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.dialogue.base import DialogueEvent, EndCall, SpeakText, TurnAnnotations
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.ports import CallOutcome
from sdr_agent.voice.session import CallSession

FRAME = 160


def _now() -> float:
    """The running loop's clock: virtual under ``on_virtual_clock``, monotonic otherwise."""
    return asyncio.get_running_loop().time()


@dataclass
class _Mark:
    name: str


class FakeTwilioLine:
    """Plays what the agent sends in real time, echoes marks after playback, honours clear."""

    def __init__(self) -> None:
        self.session: CallSession | None = None
        self.queue: deque[bytes | _Mark] = deque()
        self.heard: list[tuple[float, bytes]] = []
        self.clears: list[float] = []
        self.marks_sent: list[str] = []
        self.closed = False
        self.t0 = 0.0
        self._task: asyncio.Task[None] | None = None

    async def send_media(self, ulaw: bytes) -> None:
        self.queue.append(ulaw)

    async def send_mark(self, name: str) -> None:
        self.marks_sent.append(name)
        self.queue.append(_Mark(name))

    async def send_clear(self) -> None:
        self.clears.append(_now() - self.t0)
        pending = [item for item in self.queue if isinstance(item, _Mark)]
        self.queue.clear()
        for mark in pending:
            self._echo(mark)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def _echo(self, mark: _Mark) -> None:
        if self.session is not None:
            self.session.on_mark(mark.name)

    def start(self, t0: float) -> None:
        self.t0 = t0
        self._task = asyncio.create_task(self._play())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _play(self) -> None:
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, self.t0 + n * 0.02 - _now()))
            while self.queue and isinstance(self.queue[0], _Mark):
                self._echo(self.queue.popleft())  # type: ignore[arg-type]
            if self.queue:
                frame = self.queue.popleft()
                assert isinstance(frame, bytes)
                self.heard.append((_now() - self.t0, frame))

    def heard_at(self, index: int) -> np.ndarray | None:
        """Agent PCM heard during caller frame ``index`` (20 ms slots since t0)."""
        for t, frame in reversed(self.heard):
            slot = round(t / 0.02)
            if slot == index:
                return ulaw_to_pcm(frame)
            if slot < index:
                return None
        return None

    def last_heard_before(self, t: float) -> float | None:
        times = [ht for ht, _ in self.heard if ht <= t + 5]
        return max(times) if times else None


@dataclass
class CallerTimeline:
    """Caller audio placed on the call's time line (seconds → PCM16 at 8 kHz)."""

    segments: list[tuple[float, np.ndarray]] = field(default_factory=list)
    noise_rms: float = 30.0

    def add(self, at_s: float, pcm: np.ndarray) -> None:
        self.segments.append((at_s, pcm))

    def frame(self, index: int, rng: np.random.Generator) -> np.ndarray:
        out = rng.normal(0.0, self.noise_rms, FRAME)
        start = index * FRAME
        for at_s, pcm in self.segments:
            offset = start - round(at_s * 8000)
            if -FRAME < offset < len(pcm):
                lo, hi = max(0, offset), min(len(pcm), offset + FRAME)
                out[lo - offset : hi - offset] += pcm[lo:hi]
        return out


async def drive_caller(
    session: CallSession,
    line: FakeTwilioLine,
    timeline: CallerTimeline,
    duration_s: float,
    *,
    echo_gain: float = 0.0,
    echo_delay_ms: float = 150.0,
    stop_when: Callable[[], bool] | None = None,
) -> None:
    rng = np.random.default_rng(7)
    delay_frames = round(echo_delay_ms / 20)
    for index in range(int(duration_s / 0.02)):
        await asyncio.sleep(max(0.0, line.t0 + index * 0.02 - _now()))
        frame = timeline.frame(index, rng)
        if echo_gain:
            leaked = line.heard_at(index - delay_frames)
            if leaked is not None:
                frame = frame + echo_gain * leaked.astype(np.float64)
        await session.on_media(pcm_to_ulaw(np.clip(frame, -32768, 32767).astype(np.int16)))
        if stop_when is not None and stop_when():
            return


class ScriptedDialogue:
    """Dialogue port double: a fixed opening line and replies chosen by a function of the caller's text."""

    def __init__(self, opening: str, reply: Callable[[str], str], fail_on: str | None = None) -> None:
        self._opening = opening
        self._reply = reply
        self._fail_on = fail_on
        self.heard: list[tuple[str, bool]] = []
        self.user_turns: list[str] = []

    def opening_line(self) -> str:
        return self._opening

    async def _events(self, text: str) -> AsyncIterator[DialogueEvent]:
        if self._fail_on and self._fail_on in text:
            raise RuntimeError("LLM exploded")
        reply = self._reply(text)
        for word in reply.split(" "):
            yield SpeakText(word + " ")
        if "goodbye" in text.lower():
            yield EndCall("caller said goodbye")

    def respond(self, user_text: str) -> AsyncIterator[DialogueEvent]:
        self.user_turns.append(user_text)
        return self._events(user_text)

    def annotate_user_turn(self) -> TurnAnnotations:
        return TurnAnnotations(intent="QUESTION", phase="ACTIVE", sentiment=0.0)

    def record_agent_turn(self, heard_text: str, interrupted: bool) -> None:
        self.heard.append((heard_text, interrupted))

    def reprompt_line(self) -> str:
        return "Are you still there?"

    def goodbye_line(self) -> str:
        return "Thanks for your time, goodbye."

    def fallback_line(self) -> str:
        return "Sorry, let me get back to you on that."

    @property
    def phase(self) -> str:
        return "ACTIVE"

    def state_snapshot(self) -> dict[str, Any]:
        return {"heard": self.heard}


class MemorySink:
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []
        self.metadata: dict[str, Any] = {}
        self.outcome: CallOutcome | None = None

    async def save_turn(self, turn: TurnRecord) -> None:
        self.turns.append(turn)

    async def merge_metadata(self, patch: dict[str, Any]) -> None:
        self.metadata.update(patch)

    async def finish(self, outcome: CallOutcome) -> None:
        self.outcome = outcome


class RecordingControl:
    def __init__(self) -> None:
        self.actions: list[str] = []

    async def hangup(self) -> None:
        self.actions.append("hangup")

    async def transfer(self, phone_number: str) -> None:
        self.actions.append(f"transfer:{phone_number}")
