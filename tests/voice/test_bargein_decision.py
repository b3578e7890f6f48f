"""Backchannel or interruption, from the sound's syllables (fake engines, virtual clock): running speech is
stopped when the duck window ends even with no interruption words; a hum's two syllables are not."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from sdr_agent.engines.base import Transcript
from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, voiced_signal
from sdr_agent.voice.backchannel import syllable_peaks
from sdr_agent.voice.config import SessionConfig, SessionDeps
from sdr_agent.voice.session import CallSession
from tests.voice.harness import CallerTimeline, FakeTwilioLine, MemorySink, ScriptedDialogue, drive_caller
from tests.voice.test_session_timeline import build, run_call
from tests.voice.test_turn_taking import OPENING, full_level_again_ms, levels, yield_ms
from tests.voice.virtual_time import on_virtual_clock

ONSET = 2.0


def syllables(rate_hz: float, duration_ms: float) -> np.ndarray:
    """A voice whose level rises and falls ``rate_hz`` times a second (12 dB swings)."""
    pcm = voiced_signal(220.0, duration_ms).astype(np.float64)
    t = np.arange(len(pcm)) / 8000
    envelope = 0.25 + 0.75 * np.abs(np.sin(np.pi * rate_hz * t))
    return np.asarray(pcm * envelope / 0.75, dtype=np.int16)


async def call(
    pcm: np.ndarray, words: str | list[str], *, stt: FakeSTT | None = None
) -> tuple[FakeTwilioLine, ScriptedDialogue]:
    """The opening plays; the caller makes ``pcm`` at ``ONSET``; the recogniser hears ``words`` (one
    transcript per utterance) unless ``stt`` is given."""
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Sure, the Team plan is 49 dollars.")
    line, sink = FakeTwilioLine(), MemorySink()
    scripted = [words] if isinstance(words, str) else words
    session = CallSession(
        conversation_id="conv_bd", call_sid="CA_bd",
        deps=SessionDeps(stt=stt or FakeSTT(scripted, partial_after_ms=200.0, claim_after_ms=20.0),
                         tts=FakeTTS(ms_per_char=45.0), vad=FakeVAD(), dialogue=dialogue, sink=sink),
        config=SessionConfig(backchannels=["uh-huh", "mm-hmm", "right"]), transport=line,
        clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    timeline = CallerTimeline()
    timeline.add(ONSET, pcm)
    line.start(asyncio.get_running_loop().time())
    await session.start()
    try:
        await drive_caller(session, line, timeline, 8.0)
    finally:
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()
    return line, dialogue


def test_syllable_peaks_count_rises_and_falls() -> None:
    assert syllable_peaks([]) == 0
    assert syllable_peaks([60.0] * 25) == 0  # a steady hum
    hum = [50.0, 56.0, 60.0, 60.0, 59.0, 58.0, 60.0, 61.0, 60.0, 52.0]  # "mmm": wobbles under 5 dB
    assert syllable_peaks(hum) == 1
    speech = [50, 62, 50, 62, 50, 62, 50, 62, 55]  # four nuclei
    assert syllable_peaks([float(v) for v in speech]) == 4


@on_virtual_clock
async def test_running_speech_with_no_interruption_words_stops_the_agent_when_the_duck_window_ends() -> None:
    # Eight syllables a second and a partial of one word ("Can"): no words to go by, the rhythm decides.
    line, dialogue = await call(syllables(8.0, 1500.0), "Can I ask about the price for a team")
    heard = levels(line)
    assert yield_ms(heard) <= 150
    last_heard = max(t for t, _ in heard if t < ONSET + 1.6)
    assert last_heard - ONSET <= 0.7
    assert line.clears
    assert dialogue.user_turns == ["Can I ask about the price for a team"]


@on_virtual_clock
async def test_a_drawn_out_two_syllable_hum_is_not_running_speech() -> None:
    # "Mm-hmm" at people's length: two syllables in 800 ms, heard as "No." — carried through.
    line, dialogue = await call(syllables(2.5, 800.0), "No.")
    heard = levels(line)
    assert line.clears == []
    assert full_level_again_ms(heard) <= 700
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_the_agents_own_echo_too_loud_to_cancel_never_gets_a_clear() -> None:
    # 0 dB echo after 200 ms: the canceller cannot remove it and it lasts as long as the agent talks. Every
    # stop decided from the sound alone silences the agent first; the echo then stops, so no clear is sent.
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Should not answer echo.")
    stt = FakeSTT(["this would be the echo"], partial_after_ms=60.0)
    session, line, _sink, _control = build(dialogue, stt)
    await run_call(session, line, CallerTimeline(), 9.0, echo_gain=1.0, echo_delay_ms=200.0)
    assert line.clears == []
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_running_speech_that_pauses_between_words_while_the_agent_is_silent_is_still_answered() -> None:
    # Silenced at 500 ms by its rhythm, then the caller pauses 150 ms between words: a pause is not the end
    # of an interruption; the voice that follows, with the agent silent, confirms it.
    speech = np.concatenate([syllables(8.0, 520.0), np.zeros(1200, dtype=np.int16), syllables(8.0, 900.0)])
    line, dialogue = await call(speech, "Can I ask about the price for a team")
    heard = levels(line)
    last_heard = max(t for t, _ in heard if t < ONSET + 1.6)
    assert last_heard - ONSET <= 0.7
    assert line.clears
    assert dialogue.user_turns == ["Can I ask about the price for a team"]


class SlowFinals(FakeSTT):
    """Finals arrive ``delay_s`` late (a recogniser busy with other calls)."""

    def __init__(self, *args: Any, delay_s: float = 0.4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay_s = delay_s

    async def open_stream(self) -> Any:
        stream = await super().open_stream()
        emit = stream._emit
        loop = asyncio.get_running_loop()

        def late(item: Transcript) -> None:
            if item.is_final:
                loop.call_later(self.delay_s, emit, item)
            else:
                emit(item)

        stream._emit = late  # type: ignore[method-assign]
        return stream


@on_virtual_clock
async def test_stop_words_of_the_first_half_that_arrive_during_the_second_half_stop_the_agent() -> None:
    # "Sorry" (300 ms) is let pass with no words yet; "the price please" follows after a short pause, as one
    # sound; the first half's words arrive only now: they still stop the agent, and both halves are answered.
    halves = [voiced_signal(220.0, 300.0), np.zeros(8 * 250, dtype=np.int16), voiced_signal(220.0, 400.0)]
    stt = SlowFinals(["Sorry", "the price please"], partial_after_ms=10_000.0, claim_after_ms=20.0)
    line, dialogue = await call(np.concatenate(halves), [], stt=stt)
    assert line.clears
    assert dialogue.user_turns == ["Sorry the price please"]


@on_virtual_clock
async def test_a_sound_over_the_answer_is_a_new_sound_not_the_rest_of_the_one_answered() -> None:
    # "Wait, what?" is let pass (no words by the end of the duck window); its words arrive just after, stop
    # the agent and are answered at once. 300 ms after "Wait" the caller goes on over that answer: a new
    # sound, so the answer ducks under it — timed from "Wait"'s onset it was presumed a backchannel at once.
    speech = np.concatenate([voiced_signal(220.0, 300.0), np.zeros(8 * 300, dtype=np.int16),
                             voiced_signal(220.0, 1000.0)])
    stt = SlowFinals(["Wait, what?", "Is it per seat?"], partial_after_ms=10_000.0, claim_after_ms=20.0,
                     delay_s=0.06)
    line, dialogue = await call(speech, [], stt=stt)
    answer_starts = ONSET + 0.5
    assert line.clears and line.clears[0] <= answer_starts
    heard = [(t - ONSET, level) for t, level in levels(line) if answer_starts < t <= ONSET + 1.0]
    loud = max(level for t, level in heard if t < 0.65)  # the answer, before the caller goes on at 0.6
    assert all(level <= loud / 10 ** 0.5 for t, level in heard if 0.76 <= t <= 1.0)  # ducked ≥ 10 dB
    assert dialogue.user_turns == ["Wait, what?", "Is it per seat?"]


@pytest.mark.parametrize("words", ["Uh-huh.", ""], ids=["uh-huh", "no words"])
@on_virtual_clock
async def test_after_stopping_for_what_turns_out_not_to_be_a_turn_the_agent_says_the_unheard_rest(
    words: str,
) -> None:
    # The rhythm rule stopped the agent, but the words are only "Uh-huh." — or none at all (a cough, a
    # breath, a hum): not a turn to answer, and the caller, who was listening, must not be left in silence:
    # the piece that was cut is said again, whole, and the reply goes on from there (not its first words).
    line, dialogue = await call(syllables(8.0, 1500.0), words)
    assert line.clears
    assert dialogue.user_turns == []
    said = [text for text, _interrupted in dialogue.heard]
    assert len(said) == 2
    first, again = said
    assert again in OPENING and not OPENING.startswith(again) and len(again.split()) > len(first.split()) // 2
    assert max(t for t, _ in levels(line)) > ONSET + 2.0  # heard again after the stop


@on_virtual_clock
async def test_wait_wait_then_a_breath_then_the_question_is_one_turn() -> None:
    # "Wait, wait." stops the agent at once; the caller breathes for 700 ms and asks. Answering "Wait, wait."
    # alone would talk over the question and lose it.
    breath = np.zeros(8 * 700, dtype=np.int16)
    speech = np.concatenate([syllables(3.0, 500.0), breath, syllables(4.0, 1100.0)])
    stt = FakeSTT(["Wait, wait.", "Is there a free trial?"], partial_after_ms=150.0, claim_after_ms=20.0)
    line, dialogue = await call(speech, [], stt=stt)
    assert line.clears
    assert dialogue.user_turns == ["Wait, wait. Is there a free trial?"]


@on_virtual_clock
async def test_a_question_heard_after_the_rhythm_rule_silenced_the_agent_is_answered() -> None:
    # Running speech silences the agent at 500 ms; the caller stops at 700 ms, before a voice is heard past
    # the agent's echo tail. The words that arrive are a question of the caller's own: it is answered, not
    # let pass as "uh-huh".
    line, dialogue = await call(syllables(8.0, 700.0), "Is there a free trial?")
    assert line.clears
    assert dialogue.user_turns == ["Is there a free trial?"]
