"""Health of the call loop: a recogniser stream that ends is reopened; one that cannot be reopened ends the
call with a spoken line instead of leaving it deaf; swallowed errors are logged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sdr_agent.engines.fakes import FakeSTT, FakeSTTStream, FakeTTS, FakeVAD, voiced_signal
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


class FlakySTT(FakeSTT):
    """Opens one stream; every later open fails (the recogniser went away for good)."""

    async def open_stream(self) -> FakeSTTStream:
        if self.streams:
            raise ConnectionError("recogniser unreachable")
        return await super().open_stream()


async def _call(stt: FakeSTT, timeline: CallerTimeline, seconds: float, dialogue: Any = None) -> tuple[
    CallSession, FakeTwilioLine, ScriptedDialogue, RecordingControl
]:
    dialogue = dialogue or ScriptedDialogue("Hi.", reply=lambda text: f"You said {text}.")
    line, control = FakeTwilioLine(), RecordingControl()
    session = CallSession(
        conversation_id="conv_h", call_sid="CA_h",
        deps=SessionDeps(stt=stt, tts=FakeTTS(ms_per_char=30.0), vad=FakeVAD(), dialogue=dialogue,
                         sink=MemorySink(), control=control),
        config=SessionConfig(), transport=line, clock=lambda: asyncio.get_running_loop().time(),
    )
    line.session = session
    line.start(asyncio.get_running_loop().time())
    await session.start()

    async def end_first_stream() -> None:
        await asyncio.sleep(1.0)
        stt.streams[0]._results.put_nowait(None)  # the recogniser closes its stream mid-call

    closer = asyncio.create_task(end_first_stream())
    try:
        await drive_caller(session, line, timeline, seconds)
    finally:
        closer.cancel()
        await session.finish(ended_ok=True, reason="test over")
        await line.stop()
    return session, line, dialogue, control


@on_virtual_clock
async def test_a_stream_that_ends_mid_call_is_reopened_and_the_caller_still_heard(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stt = FakeSTT(["is there a free trial"], partial_after_ms=100.0, claim_after_ms=20.0)
    timeline = CallerTimeline()
    timeline.add(2.5, voiced_signal(200.0, 900.0))
    with caplog.at_level(logging.WARNING):
        session, _line, dialogue, _ = await _call(stt, timeline, 6.0)
    assert len(stt.streams) == 2
    assert dialogue.user_turns == ["is there a free trial"]
    assert session.stats.engine_errors >= 1
    assert any("STT stream ended" in r.message for r in caplog.records)


@on_virtual_clock
async def test_a_recogniser_that_cannot_be_reopened_ends_the_call_with_a_line() -> None:
    stt = FlakySTT(["never heard"])
    _session, _line, dialogue, control = await _call(stt, CallerTimeline(), 8.0)
    assert control.actions == ["hangup"]
    agent_lines = [heard for heard, _ in dialogue.heard]
    assert agent_lines[-1] == dialogue.fallback_line()


@on_virtual_clock
async def test_a_dialogue_that_cannot_record_the_agent_turn_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Forgetful(ScriptedDialogue):
        def record_agent_turn(self, heard_text: str, interrupted: bool) -> None:
            raise RuntimeError("state store down")

    stt = FakeSTT([])
    with caplog.at_level(logging.ERROR):
        await _call(stt, CallerTimeline(), 3.0, dialogue=Forgetful("Hi.", reply=lambda text: "ok"))
    assert any("could not record what the agent said" in r.message for r in caplog.records)
