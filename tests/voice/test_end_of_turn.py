"""Smart end of turn and the TTS pause limiter: unit rules, then the call loop on a virtual clock."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, voiced_signal
from sdr_agent.settings import Settings
from sdr_agent.voice.caller_turn import CallerTurn, Utterance
from sdr_agent.voice.config import SessionConfig, SessionDeps, session_config
from sdr_agent.voice.end_of_turn import TIMINGS, Completeness, Eagerness, completeness, required_silence_ms
from sdr_agent.voice.session import CallSession
from sdr_agent.voice.speech_out import PauseLimiter
from tests.voice.harness import CallerTimeline, FakeTwilioLine, MemorySink, ScriptedDialogue, drive_caller
from tests.voice.virtual_time import on_virtual_clock


def test_words_say_whether_the_caller_finished() -> None:
    assert completeness("How much does the Team plan cost?") is Completeness.COMPLETE
    assert completeness("Yes, please book it.") is Completeness.COMPLETE
    for text in ("I was wondering about the", "And what about", "So um", "We use Salesforce and...",
                 "It depends on the,"):
        assert completeness(text) is Completeness.INCOMPLETE, text
    assert completeness("yes") is Completeness.UNKNOWN
    # Words that only take the floor: the question follows after a breath. "Sorry?" asks for a repeat.
    for text in ("Wait, wait.", "Hold on.", "Sorry.", "Excuse me.", "One second."):
        assert completeness(text) is Completeness.INCOMPLETE, text
    assert completeness("Sorry?") is Completeness.COMPLETE
    assert completeness("Okay.") is Completeness.COMPLETE
    # Everyday answers that end on a continuation word, once the recogniser closed the sentence.
    for text in ("No, not really.", "I think so.", "Yes, we do.", "I think it is.", "Okay then."):
        assert completeness(text) is Completeness.COMPLETE, text
    for text in ("Our biggest worry is.", "We tried it and.", "No, not really", "Yes, we do", "It is the."):
        assert completeness(text) is not Completeness.COMPLETE, text
    assert completeness("") is Completeness.UNKNOWN


def test_a_question_that_strands_its_preposition_is_finished_and_a_fragment_is_not() -> None:
    # Said in nearly every cold call; it waited 1.1 s as if it ended mid-sentence on "with".
    for text in ("Who am I speaking with?", "And who am I speaking with?", "What's this about?",
                 "What is this call about?", "Where are you calling from?", "What is it for?"):
        assert completeness(text) is Completeness.COMPLETE, text
    # Whisper writes fragments cut by a pause with a question mark; they keep waiting.
    for text in ("And what about?", "What about?", "What happens to?", "Do you integrate with?",
                 "How does it work with?", "Who am I speaking with", "I was wondering about?"):
        assert completeness(text) is Completeness.INCOMPLETE, text


def test_required_silence_follows_the_words_and_needs_a_final_to_answer_early() -> None:
    timing = TIMINGS[Eagerness.NORMAL]
    turn = CallerTurn([Utterance(started_at=0.0, partial="How much is it?")])
    assert required_silence_ms(turn, timing) == timing.default_ms  # a partial may still change
    turn.utterances[0].resolve("How much is it?")
    assert required_silence_ms(turn, timing) == timing.complete_ms
    turn.utterances.append(Utterance(started_at=1.0, partial="and the"))
    assert required_silence_ms(turn, timing) == timing.incomplete_ms


def test_eagerness_and_end_silence_come_from_the_agent_config() -> None:
    settings = Settings(_env_file=None)
    patient = session_config(settings, {"turn": {"turn_eagerness": "patient"}})
    assert patient.end_of_turn == TIMINGS[Eagerness.PATIENT]
    explicit = session_config(settings, {"turn": {"end_silence_ms": 800}})
    assert explicit.end_of_turn is not None and explicit.end_of_turn.default_ms == 800
    bogus = session_config(settings, {"turn": {"turn_eagerness": "bogus"}})
    assert bogus.end_of_turn == TIMINGS[Eagerness.NORMAL]


def _frames(pcm: np.ndarray) -> list[bytes]:
    data = pcm_to_ulaw(pcm.astype(np.int16))
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def test_pause_limiter_caps_lead_inner_and_tail_silence_and_keeps_every_voiced_frame() -> None:
    voice = voiced_signal(150.0, 400.0)
    quiet = lambda ms: np.zeros(8 * ms, dtype=np.int16)  # noqa: E731
    sentence = np.concatenate([quiet(300), voice, quiet(480), voice, quiet(500)])
    limiter = PauseLimiter()
    out = b"".join(limiter.feed(chunk) for chunk in _frames(sentence)[::1]) + limiter.flush()
    levels = [float(np.sqrt(np.mean(ulaw_to_pcm(out[i : i + 160]).astype(float) ** 2)))
              for i in range(0, len(out), 160)]
    voiced = [i for i, lv in enumerate(levels) if lv >= 150]
    assert voiced[0] * 20 <= 40  # lead ≤ 40 ms
    runs = [b - a - 1 for a, b in itertools.pairwise(voiced) if b - a > 1]
    assert max(runs) * 20 <= 200  # the clause pause shrank from 480 ms
    assert (len(levels) - voiced[-1] - 1) * 20 <= 120
    assert len(voiced) == sum(1 for f in _frames(sentence)
                              if np.sqrt(np.mean(ulaw_to_pcm(f).astype(float) ** 2)) >= 150)


async def _call(transcripts: list[str], parts: list[tuple[float, float]], **config: Any) -> tuple[
    FakeTwilioLine, ScriptedDialogue, CallSession
]:
    dialogue = ScriptedDialogue("Hi.", reply=lambda text: "Sure thing.")
    line, sink = FakeTwilioLine(), MemorySink()
    session = CallSession(
        conversation_id="conv_eot", call_sid="CA_eot",
        deps=SessionDeps(stt=FakeSTT(transcripts, partial_after_ms=100.0, claim_after_ms=20.0),
                         tts=FakeTTS(ms_per_char=45.0), vad=FakeVAD(), dialogue=dialogue, sink=sink),
        config=SessionConfig(**config), transport=line, clock=lambda: asyncio.get_running_loop().time(),
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
    return line, dialogue, session


def _first_reply_heard_after(line: FakeTwilioLine, t: float) -> float:
    return min(ht for ht, _ in line.heard if ht > t)


@on_virtual_clock
async def test_a_finished_question_is_answered_early() -> None:
    line, dialogue, _ = await _call(["How much is it?"], [(1.5, 900.0)])
    assert dialogue.user_turns == ["How much is it?"]
    assert _first_reply_heard_after(line, 2.4) - 2.4 < 0.45  # well before the old 500 ms of silence alone


@on_virtual_clock
async def test_a_mid_sentence_pause_after_a_preposition_is_not_cut_off() -> None:
    line, dialogue, _ = await _call(["I was wondering about the", "onboarding time?"],
                                    [(1.5, 900.0), (3.1, 700.0)])
    assert dialogue.user_turns == ["I was wondering about the onboarding time?"]
    assert not [ht for ht, _ in line.heard if 2.4 < ht < 3.8]  # the agent stayed quiet in the 700 ms pause


class SlowDialogue(ScriptedDialogue):
    """Retrieval or a tool takes ``delay_s`` before the first words of every reply."""

    def __init__(self, delay_s: float, answer: str = "The Team plan is 49 dollars.") -> None:
        super().__init__("Hi.", reply=lambda text: answer)
        self.delay_s = delay_s

    async def _events(self, text: str) -> Any:
        await asyncio.sleep(self.delay_s)
        async for event in super()._events(text):
            yield event


async def _filler_call(
    delay_s: float, fillers: tuple[str, ...] = ("Sure.",), seconds: float = 6.0,
    answer: str = "The Team plan is 49 dollars.",
) -> tuple[FakeTwilioLine, ScriptedDialogue]:
    dialogue = SlowDialogue(delay_s, answer)
    line, sink = FakeTwilioLine(), MemorySink()
    session = CallSession(
        conversation_id="conv_f", call_sid="CA_f",
        deps=SessionDeps(stt=FakeSTT(["How much is it?"], partial_after_ms=100.0, claim_after_ms=20.0),
                         tts=FakeTTS(ms_per_char=45.0), vad=FakeVAD(), dialogue=dialogue, sink=sink),
        config=SessionConfig(fillers=list(fillers)), transport=line,
        clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    timeline = CallerTimeline()
    timeline.add(1.5, voiced_signal(200.0, 900.0))
    line.start(asyncio.get_running_loop().time())
    await session.start()
    try:
        await drive_caller(session, line, timeline, seconds)
    finally:
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()
    return line, dialogue


@on_virtual_clock
async def test_a_slow_reply_starts_with_a_filler_instead_of_silence() -> None:
    line, dialogue = await _filler_call(1.2)
    spoken = [heard for heard, _ in dialogue.heard]
    assert spoken[-1].startswith("Sure.") and "49 dollars" in spoken[-1]
    assert _first_reply_heard_after(line, 2.4) - 2.4 < 0.5  # the filler, long before the 1.2 s answer


@on_virtual_clock
async def test_an_answer_opening_with_an_acknowledgement_does_not_repeat_the_filler() -> None:
    _line, dialogue = await _filler_call(1.2, answer="Sure! The Team plan is 49 dollars.")
    spoken = [heard for heard, _ in dialogue.heard][-1]
    assert spoken.startswith("Sure. The Team plan") and spoken.count("Sure") == 1


@on_virtual_clock
async def test_a_quick_answer_keeps_its_own_acknowledgement() -> None:
    _line, dialogue = await _filler_call(0.0, answer="Sure! The Team plan is 49 dollars.")
    assert [heard for heard, _ in dialogue.heard][-1].startswith("Sure! The Team plan")


@on_virtual_clock
async def test_a_quick_reply_gets_no_filler() -> None:
    _line, dialogue = await _filler_call(0.0)
    assert not any(heard.startswith("Sure.") for heard, _ in dialogue.heard)


@on_virtual_clock
async def test_a_very_slow_reply_is_held_with_fillers_in_turn_and_no_long_silence() -> None:
    fillers = ("Sure.", "Let me check that for you.", "One moment.")
    line, dialogue = await _filler_call(2.6, fillers=fillers, seconds=10.0)
    spoken = [heard for heard, _ in dialogue.heard]
    assert spoken[-1].startswith("Sure. Let me check that for you.") and "49 dollars" in spoken[-1]
    times = [t for t, _ in line.heard if 2.6 <= t <= 5.5]
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.7  # a polite caller would not take the turn
