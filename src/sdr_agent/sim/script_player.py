"""Plays a ``CallerScript`` one 20 ms tick at a time. Pure: no I/O, time is passed in.

Each tick the stream tells it whether agent audio played (``heard``) and asks what the caller does
(``tick``): the microphone frame, a DTMF digit to send, or a hang-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sdr_agent.audio.mulaw import ULAW_SILENCE
from sdr_agent.sim.call_record import FRAME_BYTES, FRAME_MS, CallerTurnResult, StepKind
from sdr_agent.sim.caller_script import (
    CallerScript,
    CallerStep,
    CallerTurn,
    HangUp,
    ListenerView,
    PressDigits,
    step_is_due,
    step_label,
)

SILENCE_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES
BYTES_PER_MS = 8


@dataclass(slots=True)
class CallerAction:
    frame: bytes = SILENCE_FRAME
    digit: str | None = None
    hangup: str | None = None  # "caller-hangup" (a HangUp step) or "script-timeout"
    started: CallerTurnResult | None = None
    finished: CallerTurnResult | None = None


@dataclass(slots=True)
class _ActiveStep:
    result: CallerTurnResult
    audio: bytes = b""
    offset: int = 0
    digits: str = ""
    next_digit_ms: float = 0.0
    gap_ms: int = 0


@dataclass(slots=True)
class ScriptPlayer:
    script: CallerScript
    stream_started_ms: float
    results: list[CallerTurnResult] = field(default_factory=list)
    _index: int = 0
    _active: _ActiveStep | None = None
    _idle_since_ms: float | None = None
    # what the caller has heard
    _agent_playing: bool = False
    _spoke_since_step: bool = False
    _last_agent_audio_ms: float | None = None
    _agent_turn_started_ms: float | None = None

    def heard(self, now_ms: float, agent_played: bool) -> None:
        """Whether a frame of agent audio played during the tick starting at ``now_ms``."""
        self._agent_playing = agent_played
        if not agent_played:
            return
        self._spoke_since_step = True
        self._last_agent_audio_ms = now_ms + FRAME_MS
        if self._agent_turn_started_ms is None:
            self._agent_turn_started_ms = now_ms

    def tick(self, now_ms: float) -> CallerAction:
        action = CallerAction()
        steps = self.script.steps
        if self._active is None and self._index < len(steps):
            step = steps[self._index]
            if step_is_due(step, self._view(now_ms)):
                action.started = self._start(step, now_ms)
                if isinstance(step, HangUp):
                    action.hangup = "caller-hangup"
                    return action
        if self._active is None:
            # Waiting for the next step's moment, or done: a caller left hanging gives up after a while.
            if self._idle_since_ms is None:
                self._idle_since_ms = now_ms
            elif now_ms - self._idle_since_ms >= self.script.end_timeout_s * 1000:
                action.hangup = "script-timeout"
            return action
        active = self._active
        if active.digits:
            if now_ms >= active.next_digit_ms:
                action.digit, active.digits = active.digits[0], active.digits[1:]
                active.next_digit_ms = now_ms + active.gap_ms
                if not active.digits:
                    action.finished = self._finish(active, now_ms)
            return action
        chunk = active.audio[active.offset : active.offset + FRAME_BYTES]
        active.offset += len(chunk)
        action.frame = chunk.ljust(FRAME_BYTES, bytes([ULAW_SILENCE]))
        if active.offset >= len(active.audio):
            action.finished = self._finish(active, now_ms + len(chunk) / BYTES_PER_MS)
        return action

    def _view(self, now_ms: float) -> ListenerView:
        return ListenerView(
            now_ms=now_ms,
            stream_started_ms=self.stream_started_ms,
            agent_playing=self._agent_playing,
            agent_spoke_since_last_step=self._spoke_since_step,
            last_agent_audio_ms=self._last_agent_audio_ms,
            agent_turn_started_ms=self._agent_turn_started_ms,
        )

    def _start(self, step: CallerStep, now_ms: float) -> CallerTurnResult:
        kind: StepKind = (
            "speech"
            if isinstance(step, CallerTurn)
            else "digits"
            if isinstance(step, PressDigits)
            else "hangup"
        )
        result = CallerTurnResult(
            label=step_label(step, self._index),
            kind=kind,
            started_ms=now_ms,
            agent_was_playing=self._agent_playing,
        )
        self.results.append(result)
        if isinstance(step, HangUp):
            result.ended_ms = now_ms
            self._index += 1
        elif isinstance(step, CallerTurn):
            self._active = _ActiveStep(result, audio=step.audio)
        else:
            self._active = _ActiveStep(result, digits=step.digits, next_digit_ms=now_ms, gap_ms=step.gap_ms)
        return result

    def _finish(self, active: _ActiveStep, end_ms: float) -> CallerTurnResult:
        active.result.ended_ms = end_ms
        self._active = None
        self._idle_since_ms = None
        self._index += 1
        self._spoke_since_step = False
        self._agent_turn_started_ms = None
        return active.result
