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


async def call(
    transcripts: list[str], caller_ms: float, seconds: float = 12.0, stt_partial_words: int = 1,
    opening: str = OPENING, stt_partials: dict[str, str] | None = None,
    more_sounds: tuple[tuple[float, float], ...] = (), reply: str = "Sure, the Team plan is 49 dollars.",
    tts_delay_s: float = 0.0, stt_partial_after_ms: float = 200.0, **config: Any
) -> tuple[
    CallSession, FakeTwilioLine, MemorySink, ScriptedDialogue
]:
    """The opening plays; the caller speaks ``caller_ms`` at ``ONSET``, then ``more_sounds`` ((start s, ms)
    each); the recogniser hears ``transcripts``, one per utterance."""
    dialogue = ScriptedDialogue(opening, reply=lambda text: reply)
    line, sink = FakeTwilioLine(), MemorySink()
    session = CallSession(
        conversation_id="conv_tt", call_sid="CA_tt",
        deps=SessionDeps(stt=FakeSTT(transcripts, partial_after_ms=stt_partial_after_ms, claim_after_ms=20.0,
                                     partial_words=stt_partial_words, partials=stt_partials),
                         tts=FakeTTS(ms_per_char=45.0, delay_s=tts_delay_s), vad=FakeVAD(), dialogue=dialogue,
                         sink=sink),
        config=SessionConfig(**({"backchannels": ["uh-huh", "mm-hmm", "yeah", "right", "okay"]} | config)),
        transport=line, clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    timeline = CallerTimeline()
    timeline.add(ONSET, voiced_signal(220.0, caller_ms))
    for start_s, ms in more_sounds:
        timeline.add(start_s, voiced_signal(220.0, ms))
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
async def test_a_long_real_backchannel_is_carried_through_at_full_level_within_700_ms() -> None:
    # People's "right, right" runs 600-830 ms, longer than the duck window, and Whisper hears "No.": with no
    # interruption words the agent is back to full level by 700 ms, never silent, no clear, no answer.
    _session, line, sink, dialogue = await call(["No."], caller_ms=800.0)
    heard = levels(line)
    assert line.clears == []
    assert yield_ms(heard) <= 150
    assert longest_pause_ms(heard, ONSET + 2.0) <= 60
    assert full_level_again_ms(heard) <= 700
    agent = next(t for t in sink.turns if t.role == "agent")
    assert agent.interrupted is False and agent.message == OPENING
    assert agent.metrics["backchannels"] == 1
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_a_short_stop_is_caught_by_its_words_and_answered() -> None:
    _session, line, sink, dialogue = await call(["Stop."], caller_ms=350.0)
    assert line.clears, "a short 'Stop.' must interrupt"
    agent = next(t for t in sink.turns if t.role == "agent")
    assert agent.interrupted is True
    assert dialogue.user_turns == ["Stop."]


@on_virtual_clock
async def test_an_interruption_that_opens_with_stop_words_goes_silent_early_and_is_answered() -> None:
    _session, line, sink, dialogue = await call(["Wait how much is the team plan"], caller_ms=1500.0,
                                                stt_partial_words=3)
    heard = levels(line)
    assert yield_ms(heard) <= 150
    last_full = max(t for t, _ in heard if t < ONSET + 1.4)
    assert last_full - ONSET <= 0.7  # silent within 700 ms of the onset
    assert line.clears
    assert dialogue.user_turns == ["Wait how much is the team plan"]
    assert any("49 dollars" in (t.message or "") for t in sink.turns if t.role == "agent")


@on_virtual_clock
async def test_the_words_that_stopped_the_agent_are_answered_even_when_the_final_loses_them() -> None:
    # Whisper's partial heard "Sorry" and stopped the agent; its decode of the whole utterance dropped the
    # clipped first word. The agent answers, and the transcript keeps, what made it stop.
    _session, line, sink, dialogue = await call(
        ["Can I have something?"], caller_ms=1200.0, stt_partials={"Can I have something?": "Sorry"}
    )
    assert line.clears
    assert dialogue.user_turns == ["Sorry. Can I have something?"]
    assert [t.message for t in sink.turns if t.role == "user"] == ["Sorry. Can I have something?"]


@on_virtual_clock
async def test_speech_longer_than_any_backchannel_is_an_interruption_whatever_its_words() -> None:
    # No stop words in the partial ("Can"): presumed a backchannel at the duck window's end, but a voice still
    # going past people's longest backchannels stops the agent all the same, and is answered.
    _session, line, sink, dialogue = await call(["Can I ask about the price for a team"], caller_ms=1500.0)
    heard = levels(line)
    assert yield_ms(heard) <= 150
    last_heard = max(t for t, _ in heard if t < ONSET + 1.6)
    assert 0.7 < last_heard - ONSET <= 1.1
    assert line.clears
    assert dialogue.user_turns == ["Can I ask about the price for a team"]
    assert any("49 dollars" in (t.message or "") for t in sink.turns if t.role == "agent")


@on_virtual_clock
async def test_stop_words_heard_after_the_agent_came_back_to_full_level_still_stop_it_at_once() -> None:
    # The recogniser is slow: "Wait" arrives 650 ms into the caller's speech, after the agent presumed a
    # backchannel and came back to full level. It stops then, not at the length limit.
    _session, line, _sink, dialogue = await call(
        ["Wait what does the team plan cost"], caller_ms=1500.0, seconds=8.0, stt_partial_after_ms=650.0,
        backchannels=["uh-huh", "right"],
    )
    heard = levels(line)
    assert full_level_again_ms(heard) <= 700  # presumed a backchannel first
    last_heard = max(t for t, _ in heard if t < ONSET + 1.6)
    assert last_heard - ONSET <= 0.8  # stopped by its words, well before the 1 s length limit
    assert line.clears
    assert dialogue.user_turns == ["Wait what does the team plan cost"]


@on_virtual_clock
async def test_a_sound_that_goes_on_after_a_long_backchannel_stays_ducked_and_is_an_interruption() -> None:
    # 600 ms presumed a backchannel, a 250 ms pause, then more: one sound from its first onset, ducked (not
    # full level again) while it goes on, and stopped at the length limit (1.4 s here, to hear the duck).
    _session, line, _sink, dialogue = await call(
        ["Yes", "so the team plan is what"], caller_ms=600.0, seconds=8.0,
        more_sounds=((ONSET + 0.85, 1200.0),), backchannels=["uh-huh", "right"], interrupt_ms=1400.0,
    )
    heard = levels(line)
    reference = reference_level(heard)
    last_heard = max(t for t, _ in heard if t < ONSET + 2.0)
    assert last_heard - ONSET <= 1.5
    during = [lv for t, lv in heard if ONSET + 1.0 <= t <= last_heard]
    assert during and max(during) <= reference / 10 ** 0.5  # ducked ≥ 10 dB from the second onset on
    assert line.clears
    assert dialogue.user_turns == ["Yes so the team plan is what"]


@on_virtual_clock
async def test_an_opener_like_actually_stops_the_agent_but_not_when_it_is_the_agents_own_word() -> None:
    _session, line, _sink, dialogue = await call(["Actually"], caller_ms=400.0)
    assert line.clears and dialogue.user_turns == ["Actually"]
    # The agent said "actually" itself: a sound heard as only its own words is its echo, not a stop.
    own = "Actually, " + OPENING
    _session, line, sink, dialogue = await call(["Actually"], caller_ms=400.0, opening=own)
    assert line.clears == [] and dialogue.user_turns == []
    agent = next(t for t in sink.turns if t.role == "agent")
    assert agent.interrupted is False and agent.message == own


@on_virtual_clock
async def test_a_question_recognised_after_it_was_let_pass_is_answered() -> None:
    # 700 ms, no stop words in the partial ("Is"): presumed a backchannel and carried through; its final
    # words are a question of the caller's own, so the agent stops then and answers it.
    _session, line, sink, dialogue = await call(["Is that per user?"], caller_ms=700.0)
    assert line.clears
    assert dialogue.user_turns == ["Is that per user?"]
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
    _session, line, _sink, dialogue = await call(
        ["So", "how much is the team plan"], caller_ms=400.0, seconds=8.0,
        more_sounds=((ONSET + 0.6, 900.0),),  # 200 ms of pause, then the question
        backchannels=["uh-huh", "right"],
    )
    last_heard = max(t for t, _ in levels(line) if t < ONSET + 1.6)
    assert last_heard - ONSET <= 1.1  # silent by the length limit, counted from the first half's onset
    assert line.clears
    assert dialogue.user_turns == ["So how much is the team plan"]


@on_virtual_clock
async def test_a_caller_who_goes_on_just_after_the_agent_answered_a_pause_is_heard_out() -> None:
    # "Could you send me." was taken for a finished turn and answered 200 ms into the caller's pause; the
    # caller goes on ("the pricing by email") 300 ms into that reply. No stop words, under a second long: as a
    # sound over the middle of a reply it would be let pass as "uh-huh" and lost. This early in a reply it
    # is never taken for "uh-huh": the agent goes silent once it has lasted 300 ms, and answers it.
    fragment_end, going_on = ONSET + 0.7, ONSET + 1.25
    _session, line, _sink, dialogue = await call(
        ["Could you send me.", "the pricing by email"], caller_ms=700.0, seconds=9.0,
        opening="Hi, this is Alex.", more_sounds=((going_on, 900.0),),
        reply="Sure, we have three plans and the Team plan is the most popular one with teams like yours.",
    )
    reply_heard = min(t for t, _ in line.heard if t > fragment_end)
    assert reply_heard < going_on  # the agent did answer the pause (the premise of the test)
    cut = max(t for t, _ in line.heard if t < going_on + 0.9)
    assert cut - going_on <= 0.5, cut - going_on  # silent early, not ducked through the caller's words
    assert line.clears
    assert dialogue.user_turns == ["Could you send me.", "the pricing by email"]


@on_virtual_clock
async def test_a_caller_who_goes_on_before_the_reply_is_even_heard_is_answered_not_talked_over() -> None:
    # The reply to "Could you send me." is slow to start (a slow TTS); the caller goes on before any of it is
    # heard. Presumed "uh-huh" at 500 ms, the reply would start at full level over the caller's words.
    going_on = ONSET + 1.2  # 500 ms after "Could you send me." ends
    _session, line, _sink, dialogue = await call(
        ["Could you send me.", "the pricing by email"], caller_ms=700.0, seconds=9.0,
        opening="Hi, this is Alex.", more_sounds=((going_on, 900.0),), tts_delay_s=0.6,
        reply="Sure, we have three plans and the Team plan is the most popular one with teams like yours.",
    )
    over_the_caller = [t for t, _ in line.heard if going_on + 0.3 <= t <= going_on + 0.9]
    assert over_the_caller == []
    assert dialogue.user_turns == ["Could you send me.", "the pricing by email"]
