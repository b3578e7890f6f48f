"""Scripted-timeline tests of the call loop with fake engines, on a virtual clock (``virtual_time``)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np

from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, voiced_signal
from sdr_agent.voice.config import SessionConfig, SessionDeps
from sdr_agent.voice.session import CallSession
from tests.voice.harness import (
    CallerTimeline,
    FakeTwilioLine,
    MemorySink,
    RecordingControl,
    ScriptedDialogue,
    drive_caller,
)
from tests.voice.virtual_time import on_virtual_clock

OPENING = (
    "Hi, this is Alex from Acme Cloud, I am calling because your team signed up for our newsletter "
    "and I wanted to tell you about our new plans."
)


def build(dialogue: Any, stt: Any, *, vad: Any = None, tts: Any = None, **config: Any) -> tuple[
    CallSession, FakeTwilioLine, MemorySink, RecordingControl
]:
    line, sink, control = FakeTwilioLine(), MemorySink(), RecordingControl()
    session = CallSession(
        conversation_id="conv_test",
        call_sid="CA_test",
        deps=SessionDeps(
            stt=stt, tts=tts or FakeTTS(ms_per_char=45.0), vad=vad or FakeVAD(), dialogue=dialogue,
            sink=sink, control=control,
        ),
        config=SessionConfig(backchannels=["uh-huh", "mm-hmm", "yeah", "right", "okay"], **config),
        transport=line,
        clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    return session, line, sink, control


async def run_call(session: CallSession, line: FakeTwilioLine, timeline: CallerTimeline, seconds: float,
                   **drive: Any) -> None:
    t0 = asyncio.get_running_loop().time()
    line.start(t0)
    await session.start()
    try:
        await drive_caller(session, line, timeline, seconds, **drive)
    finally:
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()


def agent_turns(sink: MemorySink) -> list[Any]:
    return [t for t in sink.turns if t.role == "agent"]


@on_virtual_clock
async def test_real_interruption_stops_agent_within_150ms_and_keeps_heard_text() -> None:
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "The Team plan costs 49 dollars per user.")
    stt = FakeSTT(["wait how much does it cost"], partial_after_ms=60.0, claim_after_ms=20.0)
    session, line, sink, _ = build(dialogue, stt)
    timeline = CallerTimeline()
    onset = 2.0
    timeline.add(onset, voiced_signal(220.0, 1200.0))
    await run_call(session, line, timeline, 6.0)

    assert line.clears, "a real interruption must send clear"
    assert line.clears[0] - onset <= 0.150
    last_heard = max(t for t, _ in line.heard if t < onset + 1.0)
    assert last_heard + 0.02 - onset <= 0.200  # the caller stopped hearing the agent almost at once
    first = agent_turns(sink)[0]
    assert first.interrupted is True
    assert first.message and OPENING.startswith(first.message) and len(first.message) < len(OPENING)
    assert dialogue.heard[0] == (first.message, True)
    assert first.bargein_detect_ms is not None and first.bargein_detect_ms <= 150
    users = [t for t in sink.turns if t.role == "user"]
    assert users and users[0].message == "wait how much does it cost"
    assert any("49 dollars" in (t.message or "") for t in agent_turns(sink)[1:])


@on_virtual_clock
async def test_backchannel_does_not_interrupt_or_clear() -> None:
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Should not answer a backchannel.")
    stt = FakeSTT(["uh-huh"], partial_after_ms=60.0, claim_after_ms=20.0)
    session, line, sink, _ = build(dialogue, stt)
    timeline = CallerTimeline()
    timeline.add(2.0, voiced_signal(220.0, 400.0))
    await run_call(session, line, timeline, 7.5)

    assert line.clears == []
    first = agent_turns(sink)[0]
    assert first.interrupted is False and first.message == OPENING
    assert first.metrics["backchannels"] == 1
    assert dialogue.user_turns == []  # no reply to "uh-huh"


@on_virtual_clock
async def test_attenuated_echo_does_not_interrupt() -> None:
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Should not answer echo.")
    stt = FakeSTT(["this would be the echo"], partial_after_ms=60.0)
    session, line, sink, _ = build(dialogue, stt)
    # -10 dB echo with 150 ms delay: loud enough to pass the energy floor and the fake VAD on its own.
    await run_call(session, line, CallerTimeline(), 7.5, echo_gain=0.316, echo_delay_ms=150.0)

    assert line.clears == []
    first = agent_turns(sink)[0]
    assert first.interrupted is False and first.message == OPENING
    assert dialogue.user_turns == []


@on_virtual_clock
async def test_engine_failure_speaks_fallback_line_and_call_goes_on() -> None:
    reply = "Our onboarding takes one day."
    dialogue = ScriptedDialogue("Hello there.", reply=lambda text: reply, fail_on="price")
    stt = FakeSTT(["what is the price", "how long is onboarding"], partial_after_ms=60.0)
    session, line, sink, _ = build(dialogue, stt)
    timeline = CallerTimeline()
    timeline.add(1.5, voiced_signal(220.0, 700.0))
    timeline.add(4.5, voiced_signal(220.0, 700.0))
    await run_call(session, line, timeline, 7.5)

    messages = [t.message for t in agent_turns(sink)]
    assert "Sorry, let me get back to you on that." in messages
    assert "Our onboarding takes one day." in messages
    assert session.stats.engine_errors >= 1


@on_virtual_clock
async def test_stop_mid_sentence_keeps_partial_transcript() -> None:
    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "unused")
    session, line, sink, _ = build(dialogue, FakeSTT([]))
    await run_call(session, line, CallerTimeline(), 2.0)

    first = agent_turns(sink)[0]
    assert first.interrupted is True
    assert first.message and OPENING.startswith(first.message) and len(first.message) < len(OPENING)
    assert sink.outcome is not None and sink.outcome.ended_ok


@on_virtual_clock
async def test_malformed_frames_are_skipped() -> None:
    dialogue = ScriptedDialogue("Hi.", reply=lambda text: "ok")
    session, line, _sink, _ = build(dialogue, FakeSTT([]))
    line.start(asyncio.get_running_loop().time())
    await session.start()
    await session.on_media(b"")
    await session.on_media(bytes([0xFF]) * 160)
    await session.finish(ended_ok=True, reason="done")
    await line.stop()
    assert session.stats.malformed_frames == 1
    assert session.stats.frames_in == 1


@on_virtual_clock
async def test_goodbye_hangs_up_after_the_closing_line_is_heard() -> None:
    dialogue = ScriptedDialogue("Hi.", reply=lambda text: "Thanks, goodbye.")
    stt = FakeSTT(["ok goodbye"], partial_after_ms=60.0)
    session, line, sink, control = build(dialogue, stt)
    timeline = CallerTimeline()
    timeline.add(1.0, voiced_signal(220.0, 600.0))
    await run_call(session, line, timeline, 5.0, stop_when=lambda: line.closed)

    assert control.actions == ["hangup"]
    assert line.closed
    assert agent_turns(sink)[-1].message == "Thanks, goodbye."
    assert agent_turns(sink)[-1].interrupted is False


@on_virtual_clock
async def test_silence_reprompts_once_then_says_goodbye_and_hangs_up() -> None:
    dialogue = ScriptedDialogue("Hi.", reply=lambda text: "ok")
    session, line, sink, control = build(dialogue, FakeSTT([]), turn_timeout_s=1.0)
    await run_call(session, line, CallerTimeline(), 7.0, stop_when=lambda: line.closed)
    messages = [t.message for t in agent_turns(sink)]
    assert messages == ["Hi.", "Are you still there?", "Thanks for your time, goodbye."]
    assert control.actions == ["hangup"]


def test_voiced_signal_is_loud_enough_for_the_detector() -> None:
    pcm = voiced_signal(220.0, 200.0)
    assert float(np.sqrt(np.mean(pcm.astype(float) ** 2))) > 800


def _tone(freq: float, ms: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(8 * ms)) / 8000.0
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _noise_burst(ms: float, rms_level: float = 3000.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.clip(rng.normal(0.0, rms_level, int(8 * ms)), -32768, 32767).astype(np.int16)


@on_virtual_clock
async def test_tone_and_noise_burst_do_not_interrupt_with_a_real_vad() -> None:
    from sdr_agent.engines.local.vad import SileroVAD

    dialogue = ScriptedDialogue(OPENING, reply=lambda text: "Should not answer noise.")
    session, line, sink, _ = build(dialogue, FakeSTT(["noise"], partial_after_ms=60.0), vad=SileroVAD())
    timeline = CallerTimeline()
    timeline.add(1.5, _tone(1000.0, 600.0))
    timeline.add(3.0, _noise_burst(250.0))
    timeline.add(4.5, np.tile(_noise_burst(10.0, 9000.0), 1))  # a click
    await run_call(session, line, timeline, 7.5)

    assert line.clears == []
    first = agent_turns(sink)[0]
    assert first.interrupted is False and first.message == OPENING
    # Energy alone may duck the agent for a moment (ducking costs no pause); it never goes silent.
    assert session.stats.resumes == session.stats.bargein_holds
    times = [t for t, _ in line.heard if 1.0 <= t <= 6.0]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 0.06
