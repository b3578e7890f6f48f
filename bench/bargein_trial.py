"""One barge-in trial: a live ``CallSession`` (real STT/VAD/TTS engines) whose agent is speaking its opening
monologue, a Twilio-like line that plays what the agent sends in real time, and a caller whose microphone
carries line noise, the stimulus (once the agent has been audible for a while) and, for echo trials, the
agent's own audio coming back. Returns what happened as a ``TrialTrace``; ``bargein_score`` judges it.

The caller and the line share one 20 ms clock (absolute, so it never drifts): each tick the line plays one
queued agent frame (echoing marks whose audio has played, as Twilio does), then the caller's frame goes to
``session.on_media``. ``clear`` drops the queued audio and echoes pending marks at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from bench.bargein_corpus import RATE, Stimulus, line_noise, to_pcm16

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.dialogue.base import DialogueEvent, SpeakText, TurnAnnotations
from sdr_agent.engines.base import SpeechToText, SynthesizedAudio, TextToSpeech, VoiceActivityDetector
from sdr_agent.settings import BargeInSettings, Settings
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.config import SessionDeps, session_config
from sdr_agent.voice.ports import CallOutcome
from sdr_agent.voice.session import CallSession

FRAME = 160
TICK_S = 0.02
MONOLOGUE = (
    "Thanks for taking my call today. I'm reaching out because sales teams like yours spend hours every week "
    "chasing leads by hand. Our platform books qualified meetings for you automatically, and most customers "
    "see results within their first month. I'd love to walk you through how the whole thing works."
)
REPLY = "Of course, happy to help with that."
ONSET_AFTER_AUDIO_S = (1.0, 2.5)  # the stimulus starts this long after the agent became audible
AFTER_STIMULUS_S = 2.2  # watching for a late reaction (decision window, resume) after a non-interruption
ANSWER_WAIT_S = 5.0  # an interruption has this long after it ends to get an answer
REPLY_HEARD_TICKS = 10  # this much of the answer played = answered
ECHO_WATCH_S = 5.0
MAX_TRIAL_S = 20.0


class CachedTTS:
    """The agent says the same lines in every trial: synthesise each once, replay the chunks after that."""

    def __init__(self, inner: TextToSpeech) -> None:
        self.inner = inner
        self.name = f"cached-{inner.name}"
        self._cache: dict[tuple[str, str | None], list[SynthesizedAudio]] = {}

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        key = (text, voice)
        cached = self._cache.get(key)
        if cached is not None:
            for chunk in cached:
                yield chunk
                await asyncio.sleep(0)
            return
        chunks: list[SynthesizedAudio] = []
        async for chunk in self.inner.synthesize(text, voice):
            chunks.append(chunk)
            yield chunk
        self._cache[key] = chunks

    async def warm_up(self) -> None:
        for text in (MONOLOGUE, REPLY):
            async for _ in self.synthesize(text):
                pass


_borrowed: ContextVar[list[VoiceActivityDetector] | None] = ContextVar("borrowed_vads", default=None)


class VADPool:
    """Silero VADs built before the trials and reused: building one blocks the event loop ~90 ms, which
    would stall every other trial's audio each time a trial starts. VADs taken during a trial (the
    session's and the STT stream's) go back to the pool when the trial ends."""

    def __init__(self, make: Callable[[], VoiceActivityDetector], size: int) -> None:
        self._make = make
        self._free = [make() for _ in range(size)]

    def take(self) -> VoiceActivityDetector:
        vad = self._free.pop() if self._free else self._make()
        vad.reset()
        borrowed = _borrowed.get()
        if borrowed is not None:
            borrowed.append(vad)
        return vad

    def give_back(self, vads: list[VoiceActivityDetector]) -> None:
        self._free.extend(vads)


class TrialLine:
    """MediaTransport for one trial (see the module docstring). ``played[tick]`` is the μ-law heard then."""

    def __init__(self) -> None:
        self.session: CallSession | None = None
        self._queue: deque[bytes | str] = deque()
        self.played: dict[int, bytes] = {}
        self.clear_ticks: list[int] = []
        self.tick_index = 0
        self.closed = False

    async def send_media(self, ulaw: bytes) -> None:
        self._queue.append(ulaw)

    async def send_mark(self, name: str) -> None:
        self._queue.append(name)

    async def send_clear(self) -> None:
        self.clear_ticks.append(self.tick_index)
        marks = [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        for name in marks:
            self._echo(name)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def _echo(self, name: str) -> None:
        if self.session is not None:
            self.session.on_mark(name)

    def tick(self, index: int) -> bytes | None:
        self.tick_index = index
        while self._queue and isinstance(self._queue[0], str):
            self._echo(str(self._queue.popleft()))
        if not self._queue:
            return None
        frame = self._queue.popleft()
        assert isinstance(frame, bytes)
        self.played[index] = frame
        return frame


class BenchDialogue:
    """Dialogue port: the monologue as opening line; any caller turn gets REPLY. Records what it was told."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.responses: list[tuple[float, str]] = []
        self.agent_turns: list[tuple[str, bool]] = []

    def opening_line(self) -> str:
        return MONOLOGUE

    async def _reply(self) -> AsyncIterator[DialogueEvent]:
        yield SpeakText(REPLY)

    def respond(self, user_text: str) -> AsyncIterator[DialogueEvent]:
        self.responses.append((self._clock(), user_text))
        return self._reply()

    def annotate_user_turn(self) -> TurnAnnotations:
        return TurnAnnotations()

    def record_agent_turn(self, heard_text: str, interrupted: bool) -> None:
        self.agent_turns.append((heard_text, interrupted))

    def reprompt_line(self) -> str:
        return "Are you still there?"

    def goodbye_line(self) -> str:
        return "Goodbye."

    def fallback_line(self) -> str:
        return "Sorry, one moment."

    @property
    def phase(self) -> str:
        return "ACTIVE"

    def state_snapshot(self) -> dict[str, Any]:
        return {}


class NullSink:
    async def save_turn(self, turn: TurnRecord) -> None:
        return None

    async def merge_metadata(self, patch: dict[str, Any]) -> None:
        return None

    async def finish(self, outcome: CallOutcome) -> None:
        return None


@dataclass
class TrialTrace:
    """What one trial observed; ticks are 20 ms since the caller's first frame."""

    stimulus_id: str
    detector: str
    onset_tick: int | None = None
    stimulus_ticks: int = 0
    end_tick: int = 0
    played: dict[int, bytes] = field(default_factory=dict, repr=False)
    clear_ticks: list[int] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)  # (tick, recognised caller text)
    interruptions_before_onset: int = 0
    interruptions: int = 0
    holds: int = 0
    resumes: int = 0
    late_ticks_ms: list[float] = field(default_factory=list)  # how late the caller's clock ran
    trail: list[tuple[int, str]] = field(default_factory=list)  # the barge-in decisions, (tick, event)


@dataclass(frozen=True)
class TrialEngines:
    stt: SpeechToText  # its streams should take their VADs from ``vads`` too
    tts: TextToSpeech
    vads: VADPool


@lru_cache(maxsize=8)
def trial_settings(detector: str) -> Settings:
    return Settings(_env_file=None, bargein=BargeInSettings(mode=detector))


async def run_trial(stimulus: Stimulus, detector: str, engines: TrialEngines) -> TrialTrace:
    borrowed: list[VoiceActivityDetector] = []
    token = _borrowed.set(borrowed)
    try:
        return await _run_trial(stimulus, detector, engines)
    finally:
        _borrowed.reset(token)
        engines.vads.give_back(borrowed)


async def _run_trial(stimulus: Stimulus, detector: str, engines: TrialEngines) -> TrialTrace:
    config = session_config(trial_settings(detector), {})
    config.audio_dir = None
    config.turn_timeout_s = 3600.0  # no re-prompts inside a trial
    line = TrialLine()
    t0 = 0.0

    def tick_of(at: float) -> int:
        return round((at - t0) / TICK_S)

    dialogue = BenchDialogue(time.monotonic)
    session = CallSession(
        conversation_id=f"conv_{stimulus.stimulus_id}", call_sid=f"CA_{detector}_{stimulus.stimulus_id}",
        deps=SessionDeps(stt=engines.stt, tts=engines.tts, vad=engines.vads.take(), dialogue=dialogue,
                         sink=NullSink()),
        config=config, transport=line,
    )
    line.session = session
    trace = TrialTrace(stimulus.stimulus_id, detector, stimulus_ticks=-(-len(stimulus.pcm) // FRAME))
    rng = random.Random(stimulus.noise_seed)
    onset_delay_ticks = round(rng.uniform(*ONSET_AFTER_AUDIO_S) / TICK_S)
    max_ticks = round(MAX_TRIAL_S / TICK_S)
    noise = line_noise(stimulus, max_ticks * FRAME)
    heard_pcm = np.zeros(max_ticks * FRAME)
    echo_gain = 10 ** (-stimulus.echo_attenuation_db / 20) if stimulus.label == "echo" else 0.0
    echo_delay = round(stimulus.echo_delay_ms * RATE / 1000)
    await session.start()
    t0 = time.monotonic()
    try:
        for index in range(max_ticks):
            late = time.monotonic() - (t0 + index * TICK_S)
            if late < 0:
                await asyncio.sleep(-late)
            trace.late_ticks_ms.append(max(0.0, late) * 1000.0)
            played = line.tick(index)
            if played is not None:
                heard_pcm[index * FRAME : (index + 1) * FRAME] = ulaw_to_pcm(played)
                if trace.onset_tick is None:
                    trace.onset_tick = index + (0 if stimulus.label == "echo" else onset_delay_ticks)
            frame = noise[index * FRAME : (index + 1) * FRAME].copy()
            onset = trace.onset_tick
            if onset is not None and onset <= index < onset + trace.stimulus_ticks:
                part = stimulus.pcm[(index - onset) * FRAME : (index - onset + 1) * FRAME]
                frame[: len(part)] += part
            if echo_gain and index * FRAME - echo_delay >= 0:
                start = index * FRAME - echo_delay
                frame += echo_gain * heard_pcm[start : start + FRAME]
            if onset is not None and index == onset:
                trace.interruptions_before_onset = session.stats.interruptions + len(dialogue.responses)
            await session.on_media(pcm_to_ulaw(to_pcm16(frame)))
            if onset is not None and _trial_over(stimulus, trace, line, dialogue, index, tick_of):
                break
        trace.end_tick = line.tick_index
        trace.played = dict(line.played)
        trace.clear_ticks = list(line.clear_ticks)
        trace.responses = [(tick_of(at), text) for at, text in dialogue.responses]
        trace.interruptions = session.stats.interruptions
        trace.holds = session.stats.bargein_holds
        trace.resumes = session.stats.resumes
        trace.trail = [(tick_of(at), event) for at, event in session.interruptions.trail]
    finally:
        await session.finish(ended_ok=True, reason="trial over")
    return trace


def _trial_over(
    stimulus: Stimulus, trace: TrialTrace, line: TrialLine, dialogue: BenchDialogue, index: int,
    tick_of: Callable[[float], int],
) -> bool:
    assert trace.onset_tick is not None
    since_end_s = (index - trace.onset_tick - trace.stimulus_ticks) * TICK_S
    if stimulus.label == "echo":
        return (index - trace.onset_tick) * TICK_S >= ECHO_WATCH_S
    if stimulus.label != "interruption":
        return since_end_s >= AFTER_STIMULUS_S
    if dialogue.responses:
        replied_at = tick_of(dialogue.responses[0][0])
        if sum(1 for tick in line.played if tick > replied_at) >= REPLY_HEARD_TICKS:
            return True
    return since_end_s >= ANSWER_WAIT_S
