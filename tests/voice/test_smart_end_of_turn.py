"""The acoustic end-of-turn model joins the words: unit rules, then the call loop on a virtual clock with a
scripted model (``FakeTurnDetector``: a probability per probe, after 100 ms like the real one)."""

from __future__ import annotations

import asyncio
from typing import Any

from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeTurnDetector, FakeVAD, voiced_signal
from sdr_agent.settings import Settings
from sdr_agent.voice.caller_turn import AcousticGuess, CallerTurn, Utterance
from sdr_agent.voice.config import SessionConfig, SessionDeps, session_config
from sdr_agent.voice.end_of_turn import TIMINGS, Completeness, Eagerness, completeness, required_silence_ms
from sdr_agent.voice.session import CallSession
from tests.voice.harness import CallerTimeline, FakeTwilioLine, MemorySink, ScriptedDialogue, drive_caller
from tests.voice.virtual_time import on_virtual_clock

NORMAL = TIMINGS[Eagerness.NORMAL]


def _turn(text: str, *, final: bool, p: float | None = None, done: bool = True) -> CallerTurn:
    utterance = Utterance(started_at=0.0, ended_at=1.0, partial=text)
    if final:
        utterance.resolve(text)
    turn = CallerTurn([utterance], last_voice_at=1.0)
    turn.acoustic = AcousticGuess(voice_at=1.0, probability=p, done=done)
    return turn


def test_numbers_and_question_marks_end_a_sentence() -> None:
    assert completeness("Can we book a meeting on Tuesday at 3.") is Completeness.COMPLETE
    assert completeness("How much does the team plan cause?") is Completeness.COMPLETE
    assert completeness("And what about?") is Completeness.INCOMPLETE  # Whisper's "?" on a cut fragment


def test_the_acoustic_verdict_moves_the_wait_both_ways() -> None:
    # Finished-looking words wait a little for the model's verdict, then answer early...
    waiting = required_silence_ms(_turn("How much is it?", final=True, done=False), NORMAL)
    assert NORMAL.complete_ms < waiting <= NORMAL.default_ms
    assert required_silence_ms(_turn("How much is it?", final=True, p=0.6), NORMAL) == NORMAL.complete_ms
    # ...unless the audio says the caller is mid-sentence (a fragment garbled into a "sentence").
    garbled = _turn("I want to make your mouth, man.", final=True, p=0.03)
    assert required_silence_ms(garbled, NORMAL) == NORMAL.doubtful_ms
    assert NORMAL.default_ms < NORMAL.doubtful_ms < NORMAL.incomplete_ms  # weaker evidence than the words
    # A high p never shortens a wait the words make (the model calls half of all fragments complete).
    assert required_silence_ms(_turn("on Tuesday at", final=False, p=0.97), NORMAL) == NORMAL.incomplete_ms
    assert required_silence_ms(_turn("I'd like to know", final=True, p=0.97), NORMAL) == NORMAL.default_ms
    assert required_silence_ms(_turn("I'd like to know", final=True, p=0.05), NORMAL) == NORMAL.doubtful_ms
    # A verdict about an earlier pause says nothing about this one.
    stale = _turn("How much is it?", final=True, p=0.01)
    stale.last_voice_at = 2.0
    assert required_silence_ms(stale, NORMAL) == NORMAL.complete_ms


def test_eagerness_sets_the_models_thresholds() -> None:
    eager, patient = TIMINGS[Eagerness.EAGER], TIMINGS[Eagerness.PATIENT]
    assert eager.unfinished_p < NORMAL.unfinished_p < patient.unfinished_p
    doubtful = _turn("Is that all.", final=True, p=0.15)
    assert required_silence_ms(doubtful, patient) == patient.doubtful_ms
    assert required_silence_ms(doubtful, NORMAL) == NORMAL.complete_ms
    settings = Settings(_env_file=None)
    explicit = session_config(settings, {"turn": {"turn_eagerness": "patient", "end_silence_ms": 800}})
    assert explicit.end_of_turn is not None and explicit.end_of_turn.unfinished_p == patient.unfinished_p


class PreparingDialogue(ScriptedDialogue):
    """Records the speculative ``prepare`` calls and the real ``respond`` calls, in order."""

    def __init__(self) -> None:
        super().__init__("Hi.", reply=lambda text: "Sure thing.")
        self.log: list[tuple[str, str]] = []

    def prepare(self, user_text: str) -> None:
        self.log.append(("prepare", user_text))

    def respond(self, user_text: str) -> Any:
        self.log.append(("respond", user_text))
        return super().respond(user_text)


async def _call(transcripts: list[str], parts: list[tuple[float, float]], detector: FakeTurnDetector | None,
                dialogue: ScriptedDialogue | None = None,
                sink: MemorySink | None = None) -> tuple[FakeTwilioLine, ScriptedDialogue]:
    dialogue = dialogue or ScriptedDialogue("Hi.", reply=lambda text: "Sure thing.")
    line, sink = FakeTwilioLine(), sink or MemorySink()
    session = CallSession(
        conversation_id="conv_st", call_sid="CA_st",
        deps=SessionDeps(stt=FakeSTT(transcripts, partial_after_ms=100.0, claim_after_ms=20.0),
                         tts=FakeTTS(ms_per_char=45.0), vad=FakeVAD(), dialogue=dialogue, sink=sink,
                         turn_detector=detector),
        config=SessionConfig(), transport=line, clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    timeline = CallerTimeline()
    for at, ms in parts:
        timeline.add(at, voiced_signal(200.0, ms))
    line.start(asyncio.get_running_loop().time())
    await session.start()
    try:
        await drive_caller(session, line, timeline, 6.0)
    finally:
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()
    return line, dialogue


GARBLED = ["I want to make your mouth, man.", "onboarding time?"]
PAUSED = [(1.5, 900.0), (3.1, 700.0)]  # a 700 ms pause in the middle of the sentence


@on_virtual_clock
async def test_a_fragment_the_recogniser_made_look_finished_is_not_cut_off_when_the_audio_says_so() -> None:
    detector = FakeTurnDetector([0.03, 0.95])
    line, dialogue = await _call(GARBLED, PAUSED, detector)
    assert dialogue.user_turns == ["I want to make your mouth, man. onboarding time?"]
    assert not [t for t, _ in line.heard if 2.4 < t < 3.8]  # quiet through the pause
    assert detector.probes_ms and 900.0 <= detector.probes_ms[0] <= 1500.0  # the voice and its pause
    assert detector.probes_ms[1] >= 900.0 + 700.0 + 700.0  # the whole turn, its mid-sentence pause included


@on_virtual_clock
async def test_without_the_model_the_same_fragment_is_answered_in_the_pause() -> None:
    line, dialogue = await _call(GARBLED, PAUSED, None)
    assert dialogue.user_turns[0] == "I want to make your mouth, man."  # the cut-off the model prevents
    assert [t for t, _ in line.heard if 2.4 < t < 3.1]


@on_virtual_clock
async def test_a_finished_question_the_model_agrees_with_is_answered_early() -> None:
    detector = FakeTurnDetector([0.9], latency_s=0.1)
    line, dialogue = await _call(["How much is it?"], [(1.5, 900.0)], detector)
    assert dialogue.user_turns == ["How much is it?"]
    first = min(t for t, _ in line.heard if t > 2.4)
    assert first - 2.4 < 0.45


@on_virtual_clock
async def test_a_reply_prepared_at_the_first_pause_is_dropped_when_the_caller_goes_on() -> None:
    dialogue, sink = PreparingDialogue(), MemorySink()
    line, _ = await _call(GARBLED, PAUSED, FakeTurnDetector([0.03, 0.95]), dialogue, sink)
    full = "I want to make your mouth, man. onboarding time?"
    assert dialogue.log == [("prepare", GARBLED[0]), ("prepare", full), ("respond", full)]
    assert [t.message for t in sink.turns if t.role == "user"] == [full]  # no entry for the fragment
    assert not [t for t, _ in line.heard if 2.4 < t < 3.8]  # nothing of it was heard


@on_virtual_clock
async def test_a_reply_prepared_at_the_first_pause_is_used_when_the_caller_stays_silent() -> None:
    dialogue = PreparingDialogue()
    await _call(["How much is it?"], [(1.5, 900.0)], FakeTurnDetector([0.9]), dialogue)
    assert dialogue.log == [("prepare", "How much is it?"), ("respond", "How much is it?")]


@on_virtual_clock
async def test_words_that_cannot_end_a_turn_are_not_prepared() -> None:
    dialogue = PreparingDialogue()
    await _call(["I was wondering about the", "onboarding time?"], PAUSED, FakeTurnDetector([0.5]), dialogue)
    assert ("prepare", "I was wondering about the") not in dialogue.log
    assert dialogue.log[-1] == ("respond", "I was wondering about the onboarding time?")

