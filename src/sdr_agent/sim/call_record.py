"""Everything the Twilio stand-in observed about one call, for tests, the demo and the benchmarks.

All times are milliseconds on the call's own clock (0 = the moment the call was created). Agent audio is
recorded as the caller *heard* it: one ``HeardFrame`` per 20 ms tick in which queued agent audio played.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sdr_agent.audio.mulaw import ulaw_to_pcm
from sdr_agent.audio.resample import rms
from sdr_agent.sim.caller_script import CallerScript, CallerStep

FRAME_MS = 20
FRAME_BYTES = 160
# Below this RMS (PCM16) a played frame counts as silence when deciding when the agent stopped being audible.
AUDIBLE_RMS = 150.0

Outcome = Literal["answered", "no-answer", "busy", "failed"]
# Who picks up an answered call, as Twilio's answering-machine detection would tell.
Answerer = Literal["human", "machine", "fax"]
# What DetectMessageEnd reports once a machine's greeting is over.
MachineEnd = Literal["machine_end_beep", "machine_end_silence", "machine_end_other"]
StepKind = Literal["speech", "digits", "hangup"]


@dataclass(frozen=True, slots=True)
class EchoPath:
    """The agent's played audio leaks back into the caller's microphone track."""

    attenuation_db: float = 20.0
    delay_ms: int = 60

    def __post_init__(self) -> None:
        if self.attenuation_db < 0 or self.delay_ms < 0:
            raise ValueError("echo attenuation and delay must not be negative")


@dataclass(slots=True)
class CallPlan:
    """How the far end behaves on a call."""

    script: CallerScript = field(default_factory=CallerScript)
    outcome: Outcome = "answered"
    # Caller hangs up this long after the stream started, whatever the script is doing.
    hangup_at_s: float | None = None
    echo: EchoPath | None = None
    ring_ms: int = 50
    max_call_s: float = 300.0
    # Tamper with the Stream <Parameter>s sent back in start.customParameters (None removes one).
    parameter_overrides: dict[str, str | None] = field(default_factory=dict)
    answered_by: Answerer = "human"
    # A machine's greeting runs this long before the beep (or silence) that ends it.
    greeting_ms: int = 1500
    machine_end: MachineEnd = "machine_end_beep"
    # How long detection takes to recognise a human (or a machine's first words with MachineDetection=Enable).
    amd_ms: int = 300

    def __post_init__(self) -> None:
        if self.outcome not in ("answered", "no-answer", "busy", "failed"):
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.ring_ms < 0 or self.max_call_s <= 0:
            raise ValueError("ring_ms must not be negative and max_call_s must be positive")


def make_plan(
    script: CallerScript | Sequence[CallerStep] | None,
    *,
    outcome: Outcome = "answered",
    hangup_at_s: float | None = None,
    echo: EchoPath | None = None,
    ring_ms: int = 50,
    max_call_s: float = 300.0,
    parameter_overrides: dict[str, str | None] | None = None,
    answered_by: Answerer = "human",
    greeting_ms: int = 1500,
    machine_end: MachineEnd = "machine_end_beep",
) -> CallPlan:
    if script is None:
        script = CallerScript()
    elif not isinstance(script, CallerScript):
        script = CallerScript(tuple(script))
    return CallPlan(
        script=script,
        outcome=outcome,
        hangup_at_s=hangup_at_s,
        echo=echo,
        ring_ms=ring_ms,
        max_call_s=max_call_s,
        parameter_overrides=dict(parameter_overrides or {}),
        answered_by=answered_by,
        greeting_ms=greeting_ms,
        machine_end=machine_end,
    )


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    t_ms: float
    kind: str
    label: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeardFrame:
    t_ms: float  # when this frame started playing
    audio: bytes  # μ-law as played, FRAME_BYTES long


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """A message the agent sent on the media stream (media payloads replaced by their length)."""

    t_ms: float
    event: str
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    event: str
    form: dict[str, str]
    status_code: int | None
    t_ms: float
    error: str | None = None


@dataclass(slots=True)
class CallerTurnResult:
    label: str
    kind: StepKind
    started_ms: float
    ended_ms: float | None = None
    # The agent was audible when this step began: a barge-in attempt.
    agent_was_playing: bool = False
    first_agent_audio_ms: float | None = None  # first agent media *received* after the step ended
    first_agent_played_ms: float | None = None
    stop_latency_ms: float | None = None  # barge-ins: onset → end of the last agent frame heard

    @property
    def response_latency_ms(self) -> float | None:
        if self.ended_ms is None or self.first_agent_audio_ms is None:
            return None
        return self.first_agent_audio_ms - self.ended_ms


@dataclass(slots=True)
class SimulatedCall:
    sid: str
    account_sid: str
    direction: str
    from_: str
    to: str
    url: str | None
    status_callback: str | None
    callback_events: list[str]
    plan: CallPlan
    created_monotonic: float
    inline_twiml: str | None = None
    status: str = "queued"
    answered_ms: float | None = None
    ended_ms: float | None = None
    twiml_documents: list[str] = field(default_factory=list)
    webhook_errors: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    dialed: list[str] = field(default_factory=list)
    stream_url: str | None = None
    stream_sid: str | None = None
    stream_started_ms: float | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    events: list[StreamMessage] = field(default_factory=list)
    timeline: list[TimelineEvent] = field(default_factory=list)
    turns: list[CallerTurnResult] = field(default_factory=list)
    heard_frames: list[HeardFrame] = field(default_factory=list)
    marks_received: list[str] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    dtmf_sent: list[str] = field(default_factory=list)
    frames_sent: int = 0
    status_callbacks: list[CallbackRecord] = field(default_factory=list)
    rest_updates: list[dict[str, str]] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    stream_closed: bool = False
    stream_close_code: int | None = None
    stream_close_reason: str = ""
    stream_error: str | None = None
    ended_by: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by the REST update endpoint; the media loop notices it on its next tick.
    end_request: str | None = None
    redirect_twiml: str | None = None
    redirect_url: str | None = None
    # Calls.json parameters: ring time and answering-machine detection as asked for.
    timeout_s: int | None = None
    machine_detection: str | None = None
    async_amd_callback: str | None = None
    answered_by: str | None = None
    amd_callbacks: list[CallbackRecord] = field(default_factory=list)
    # Wall-clock creation time: the Call resource's date_created, and what the Calls list filters on.
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def heard_audio(self) -> bytes:
        return b"".join(frame.audio for frame in self.heard_frames)

    @property
    def duration_s(self) -> float:
        if self.answered_ms is None or self.ended_ms is None:
            return 0.0
        return max(0.0, (self.ended_ms - self.answered_ms) / 1000.0)

    def mark(self, t_ms: float, kind: str, label: str = "", **detail: Any) -> None:
        self.timeline.append(TimelineEvent(t_ms, kind, label, dict(detail)))

    def callbacks_for(self, event: str) -> list[CallbackRecord]:
        return [record for record in self.status_callbacks if record.event == event]


def audible(frame: bytes) -> bool:
    return rms(ulaw_to_pcm(frame)) >= AUDIBLE_RMS


def stop_latency_ms(frames: list[HeardFrame], onset_ms: float) -> float | None:
    """From ``onset_ms`` to the end of the last audible frame of the playback run that was going at onset.

    A run is agent audio on consecutive ticks; it ends when a tick plays nothing (cleared or drained). None
    when the agent was not playing at onset.
    """
    index = next((i for i, f in enumerate(frames) if f.t_ms + FRAME_MS > onset_ms), None)
    if index is None or frames[index].t_ms > onset_ms + FRAME_MS:
        return None
    last_audible_end: float | None = None
    previous_t = frames[index].t_ms - FRAME_MS
    for frame in frames[index:]:
        if frame.t_ms - previous_t > FRAME_MS * 1.5:
            break
        previous_t = frame.t_ms
        if audible(frame.audio):
            last_audible_end = frame.t_ms + FRAME_MS
    if last_audible_end is None:
        return 0.0
    return max(0.0, last_audible_end - onset_ms)


def finish_measurements(call: SimulatedCall) -> None:
    """Fill in what can only be known after the call: barge-in stop latencies."""
    for turn in call.turns:
        if turn.agent_was_playing and turn.kind == "speech":
            turn.stop_latency_ms = stop_latency_ms(call.heard_frames, turn.started_ms)
