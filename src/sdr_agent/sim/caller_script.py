"""What the simulated person on the phone does, and when: a list of steps the Twilio stand-in plays in order.

Steps:
- ``CallerTurn(audio, when, delay_ms, label)``: say ``audio`` (raw μ-law 8 kHz);
- ``PressDigits(digits, ...)``: send DTMF events, ``gap_ms`` apart;
- ``HangUp(...)``: hang up (``stop`` on the stream, then the completed callback).

``when`` decides the moment a step starts:
- ``"after_agent_silence"``: the agent has said something since the previous step ended and nothing of it has
  been playing for ``delay_ms``;
- ``"during_agent_speech"``: the agent's current turn has been audible for ``delay_ms`` and is still playing
  (a barge-in);
- ``"at_time"``: ``delay_ms`` after the stream started.

After the last step the caller stays on the line until the agent hangs up. Whenever the caller has been
waiting (for a step's moment, or after the last step) for ``end_timeout_s``, it hangs up itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

When = Literal["after_agent_silence", "during_agent_speech", "at_time"]
_WHEN_VALUES = set(get_args(When))
DTMF_DIGITS = set("0123456789*#")


def _check_timing(when: str, delay_ms: int) -> None:
    if when not in _WHEN_VALUES:
        raise ValueError(f"when must be one of {sorted(_WHEN_VALUES)}, got {when!r}")
    if delay_ms < 0:
        raise ValueError("delay_ms must not be negative")


@dataclass(frozen=True, slots=True)
class CallerTurn:
    audio: bytes
    when: When = "after_agent_silence"
    delay_ms: int = 400
    label: str = ""

    def __post_init__(self) -> None:
        _check_timing(self.when, self.delay_ms)
        if not self.audio:
            raise ValueError("a caller turn needs audio")


@dataclass(frozen=True, slots=True)
class PressDigits:
    digits: str
    when: When = "after_agent_silence"
    delay_ms: int = 300
    gap_ms: int = 200
    label: str = ""

    def __post_init__(self) -> None:
        _check_timing(self.when, self.delay_ms)
        if not self.digits or set(self.digits) - DTMF_DIGITS:
            raise ValueError(f"digits must be a non-empty string of 0-9, * and #, got {self.digits!r}")
        if self.gap_ms < 20:
            raise ValueError("gap_ms must be at least 20 (one frame)")


@dataclass(frozen=True, slots=True)
class HangUp:
    when: When = "after_agent_silence"
    delay_ms: int = 0
    label: str = "hangup"

    def __post_init__(self) -> None:
        _check_timing(self.when, self.delay_ms)


CallerStep = CallerTurn | PressDigits | HangUp


@dataclass(frozen=True, slots=True)
class CallerScript:
    steps: tuple[CallerStep, ...] = ()
    end_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if self.end_timeout_s <= 0:
            raise ValueError("end_timeout_s must be positive")

    @classmethod
    def of(cls, *steps: CallerStep, end_timeout_s: float = 15.0) -> CallerScript:
        return cls(tuple(steps), end_timeout_s)


@dataclass(frozen=True, slots=True)
class ListenerView:
    """What the caller has perceived at a tick; all times in ms on the call's clock."""

    now_ms: float
    stream_started_ms: float
    agent_playing: bool
    agent_spoke_since_last_step: bool
    last_agent_audio_ms: float | None
    agent_turn_started_ms: float | None


def step_is_due(step: CallerStep, view: ListenerView) -> bool:
    if step.when == "at_time":
        return view.now_ms - view.stream_started_ms >= step.delay_ms
    if step.when == "after_agent_silence":
        return (
            view.agent_spoke_since_last_step
            and not view.agent_playing
            and view.last_agent_audio_ms is not None
            and view.now_ms - view.last_agent_audio_ms >= step.delay_ms
        )
    return (
        view.agent_playing
        and view.agent_turn_started_ms is not None
        and view.now_ms - view.agent_turn_started_ms >= step.delay_ms
    )


def step_label(step: CallerStep, index: int) -> str:
    if step.label:
        return step.label
    kind = {CallerTurn: "turn", PressDigits: "digits", HangUp: "hangup"}[type(step)]
    return f"{kind}-{index + 1}"
