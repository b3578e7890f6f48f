"""Turn-taking as the caller hears it (fake engines, virtual clock): the agent ducks at an onset, keeps
talking through hums whatever the recogniser makes of them, stops for "Stop." and for long speech."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np

from sdr_agent.audio.mulaw import ulaw_to_pcm
from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, voiced_signal
from sdr_agent.voice.config import SessionConfig, SessionDeps
from sdr_agent.voice.session import CallSession
from tests.voice.harness import CallerTimeline, FakeTwilioLine, MemorySink, ScriptedDialogue, drive_caller
from tests.voice.virtual_time import on_virtual_clock

OPENING = (
    "Hi, this is Alex from Acme Cloud, I am calling because your team signed up for our newsletter "
    "and I wanted to tell you about our new plans and what they cost."
)
ONSET = 2.0


async def call(transcripts: list[str], caller_ms: float, seconds: float = 12.0, **config: Any) -> tuple[
    CallSession, FakeTwilioLine, MemorySink, ScriptedDialogue
]:
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Sure, the Team plan is 49 dollars.")
    line, sink = FakeTwilioLine(), MemorySink()
    session = CallSession(
        conversation_id="conv_tt", call_sid="CA_tt",
        deps=SessionDeps(stt=FakeSTT(transcripts, partial_after_ms=200.0, claim_after_ms=20.0),
                         tts=FakeTTS(ms_per_char=45.0), vad=FakeVAD(), dialogue=dialogue, sink=sink),
        config=SessionConfig(backchannels=["uh-huh", "mm-hmm", "yeah", "right", "okay"], **config),
        transport=line, clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    timeline = CallerTimeline()
    timeline.add(ONSET, voiced_signal(220.0, caller_ms))
    line.start(asyncio.get_running_loop().time())
    await session.start()
    try:
        await drive_caller(session, line, timeline, seconds)
    finally:
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()
    return session, line, sink, dialogue


def levels(line: FakeTwilioLine) -> list[tuple[float, float]]:
    return [(t, float(np.sqrt(np.mean(ulaw_to_pcm(f).astype(np.float64) ** 2)))) for t, f in line.heard]


def reference_level(heard: list[tuple[float, float]]) -> float:
    return float(np.median([lv for t, lv in heard if ONSET - 1.0 <= t < ONSET]))


def yield_ms(heard: list[tuple[float, float]]) -> float:
    """Onset → first heard frame ≥ 10 dB below the agent's level before the onset (or silence)."""
    limit = reference_level(heard) / 10 ** 0.5
    after = [(t, lv) for t, lv in heard if t >= ONSET]
    previous = ONSET
    for t, lv in after:
        if lv <= limit or t - previous > 0.03:
            return (min(t, previous + 0.02) - ONSET) * 1000
        previous = t
    return float("inf")


def longest_pause_ms(heard: list[tuple[float, float]], until: float) -> float:
    times = [t for t, _ in heard if ONSET - 0.5 <= t <= until]
    return max((b - a - 0.02 for a, b in itertools.pairwise(times)), default=0.0) * 1000


def full_level_again_ms(heard: list[tuple[float, float]]) -> float:
    """Onset → the first 100 ms stretch back within 3 dB of the level before the onset, after the yield."""
    reference = reference_level(heard)
    after = [lv for t, lv in heard if t >= ONSET + yield_ms(heard) / 1000]
    times = [t for t, _ in heard if t >= ONSET + yield_ms(heard) / 1000]
    for i in range(len(after) - 5):
        if np.median(after[i : i + 5]) >= reference / 10 ** (3 / 20):
            return (times[i] - ONSET) * 1000
    return float("inf")


@on_virtual_clock
async def test_a_misheard_hum_is_carried_through_ducked_not_silenced_nor_answered() -> None:
    # Whisper hears "mm-hmm" as "It has.": the words must not turn it into an interruption.
    _session, line, sink, dialogue = await call(["It has."], caller_ms=480.0)
    heard = levels(line)
    assert line.clears == []
    assert yield_ms(heard) <= 150
    assert longest_pause_ms(heard, ONSET + 2.0) <= 60  # ducked, never silent
    assert full_level_again_ms(heard) <= 700
    agent = next(t for t in sink.turns if t.role == "agent")
    assert agent.interrupted is False and agent.message == OPENING
    assert agent.metrics["backchannels"] == 1
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_a_long_real_backchannel_costs_at_most_a_short_pause_and_no_clear() -> None:
    # People's "right, right" runs 600-830 ms: past the duck window the agent goes quiet, then carries on.
    _session, line, sink, dialogue = await call(["No."], caller_ms=800.0)
    heard = levels(line)
    assert line.clears == []
    assert 0 < longest_pause_ms(heard, ONSET + 2.0) <= 300
    agent = next(t for t in sink.turns if t.role == "agent")
    assert agent.interrupted is False and agent.message == OPENING
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_a_short_stop_is_caught_by_its_words_and_answered() -> None:
    _session, line, sink, dialogue = await call(["Stop."], caller_ms=350.0)
    assert line.clears, "a short 'Stop.' must interrupt"
    agent = next(t for t in sink.turns if t.role == "agent")
    assert agent.interrupted is True
    assert dialogue.user_turns == ["Stop."]


@on_virtual_clock
async def test_a_long_interruption_goes_silent_early_and_is_answered() -> None:
    _session, line, sink, dialogue = await call(["Can I ask about the price for a team"], caller_ms=1500.0)
    heard = levels(line)
    assert yield_ms(heard) <= 150
    last_full = max(t for t, _ in heard if t < ONSET + 1.4)
    assert last_full - ONSET <= 0.7  # silent within 700 ms of the onset
    assert line.clears
    assert dialogue.user_turns == ["Can I ask about the price for a team"]
    assert any("49 dollars" in (t.message or "") for t in sink.turns if t.role == "agent")


@on_virtual_clock
async def test_a_click_unducks_at_once() -> None:
    _session, line, _sink, dialogue = await call([], caller_ms=60.0)
    heard = levels(line)
    assert line.clears == []
    assert full_level_again_ms(heard) <= 400
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_explicit_stop_words_are_configurable_per_agent() -> None:
    _session, line, _sink, dialogue = await call(["Hold it."], caller_ms=350.0, stop_phrases=["hold it"])
    assert line.clears and dialogue.user_turns == ["Hold it."]


@on_virtual_clock
async def test_an_interruption_with_a_short_pause_is_one_sound_and_answered_whole() -> None:
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Sure, the Team plan is 49 dollars.")
    line, sink = FakeTwilioLine(), MemorySink()
    session = CallSession(
        conversation_id="conv_tt2", call_sid="CA_tt2",
        deps=SessionDeps(stt=FakeSTT(["So", "how much is the team plan"], partial_after_ms=200.0,
                                     claim_after_ms=20.0),
                         tts=FakeTTS(ms_per_char=45.0), vad=FakeVAD(), dialogue=dialogue, sink=sink),
        config=SessionConfig(backchannels=["uh-huh", "right"]), transport=line,
        clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    timeline = CallerTimeline()
    timeline.add(ONSET, voiced_signal(220.0, 400.0))
    timeline.add(ONSET + 0.6, voiced_signal(220.0, 900.0))  # 200 ms of pause, then the question
    line.start(asyncio.get_running_loop().time())
    await session.start()
    try:
        await drive_caller(session, line, timeline, 8.0)
    finally:
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()
    assert line.clears and line.clears[0] - ONSET <= 1.2
    assert dialogue.user_turns == ["So how much is the team plan"]
