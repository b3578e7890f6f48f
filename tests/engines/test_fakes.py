"""The scripted fakes behave as their docstrings promise."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import numpy as np
import pytest
from engine_audio import frames, silence

from sdr_agent.audio.resample import rms
from sdr_agent.engines.base import (
    PCM16,
    ChatMessage,
    EngineError,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Transcript,
)
from sdr_agent.engines.fakes import (
    FakeEmbedder,
    FakeLLM,
    FakeReply,
    FakeSTT,
    FakeSTTStream,
    FakeTTS,
    FakeVAD,
    dominant_frequency,
    marker_speech,
    voiced_signal,
)


async def say(stream: FakeSTTStream, pcm: PCM16) -> None:
    for frame in frames(pcm):
        await stream.send(frame)


def drain(stream: FakeSTTStream) -> list[Transcript]:
    return list(stream.emitted)


def test_voiced_signal_level_and_shape() -> None:
    pcm = voiced_signal(150, 1000)
    assert len(pcm) == 8000
    peak_dbfs = 20 * np.log10(np.max(np.abs(pcm)) / 32768)
    assert -12.5 < peak_dbfs < -11.5
    frame_rms = [rms(pcm[i : i + 160]) for i in range(160, 7840, 160)]
    assert min(frame_rms) >= 600  # every 20 ms frame counts as speech for FakeVAD / FakeSTT
    assert dominant_frequency(pcm, 8000) == pytest.approx(150, rel=0.02)
    assert len(voiced_signal(150, 0)) == 0


async def test_script_mode_partial_then_final_per_utterance() -> None:
    stt = FakeSTT(["uh-huh", "I want a demo next week"])
    stream = await stt.open_stream()
    await say(stream, voiced_signal(150, 180))
    assert drain(stream) == []  # under 200 ms of speech: no partial yet
    await say(stream, voiced_signal(150, 60))
    assert [(t.text, t.is_final) for t in drain(stream)] == [("uh-huh", False)]
    await stream.finalize()
    await say(stream, silence(400))
    await say(stream, voiced_signal(150, 800))
    await stream.finalize()
    texts = [(t.text, t.is_final, t.speech_final) for t in drain(stream)]
    assert texts == [
        ("uh-huh", False, False),
        ("uh-huh", True, True),
        ("I", False, False),
        ("I want a demo next week", True, True),
    ]
    final = stream.emitted[-1]
    assert final.start_s == pytest.approx(0.64) and final.end_s == pytest.approx(1.44)
    results = cast(Any, stream.results())
    assert (await anext(results)).text == "uh-huh"


async def test_script_line_is_consumed_once_claimed_even_if_cleared() -> None:
    stt = FakeSTT(["yeah", "what does it cost"], partial_words=2)
    stream = await stt.open_stream()
    await say(stream, voiced_signal(150, 300))
    await stream.clear()  # the pipeline threw the backchannel away
    await say(stream, voiced_signal(150, 60))  # a blip too short to claim a line
    await stream.finalize()
    await say(stream, voiced_signal(150, 500))
    await stream.finalize()
    assert [t.text for t in drain(stream)] == ["yeah", "", "what does", "what does it cost"]
    assert (stream.clear_count, stream.finalize_count) == (1, 2)


async def test_marker_mode_recognises_by_fundamental_frequency() -> None:
    stt = FakeSTT(markers={300.0: "uh-huh", 450.0: "tell me more about pricing"})
    stream = await stt.open_stream()
    await say(stream, marker_speech(450, 400))
    await stream.finalize()
    await say(stream, marker_speech(300, 300))
    await stream.finalize()
    await say(stream, marker_speech(700, 300))  # no marker near 700 Hz
    await stream.finalize()
    finals = [t.text for t in drain(stream) if t.is_final]
    assert finals == ["tell me more about pricing", "uh-huh", ""]
    assert await stt.transcribe(marker_speech(300, 500), 8000) == "uh-huh"
    assert await stt.transcribe(silence(500), 8000) == ""


async def test_fake_stt_injected_failure_reaches_results() -> None:
    stt = FakeSTT(["hello"], fail_with=EngineError("stt down"))
    stream = await stt.open_stream()
    await say(stream, voiced_signal(150, 300))
    await stream.finalize()
    results = cast(Any, stream.results())
    assert (await anext(results)).text == "hello"  # the partial
    with pytest.raises(EngineError, match="stt down"):
        await anext(results)
    await stream.aclose()


async def test_fake_tts_duration_chunks_delay_and_failure() -> None:
    tts = FakeTTS(chunk_ms=100)
    chunks = [c async for c in tts.synthesize("Hello there, friend.", voice="v1")]
    total_ms = sum(len(c.data) for c in chunks) / 2 / 8
    assert total_ms == pytest.approx(60 * len("Hello there, friend."), abs=1)
    assert all(len(c.data) <= 2 * 800 for c in chunks) and all(c.sample_rate == 8000 for c in chunks)
    short = [c async for c in tts.synthesize("Hi")]
    assert sum(len(c.data) for c in short) == 2 * 8 * 300  # minimum 300 ms
    assert tts.calls == [("Hello there, friend.", "v1"), ("Hi", None)]

    slow = FakeTTS(delay_s=0.05, sample_rate=24000)
    started = time.perf_counter()
    first = await anext(cast(Any, slow.synthesize("Okay.")))
    assert time.perf_counter() - started >= 0.05 and first.sample_rate == 24000

    failing = FakeTTS(fail_on="pricing")
    with pytest.raises(EngineError):
        _ = [c async for c in failing.synthesize("Our PRICING is simple.")]
    assert [c async for c in failing.synthesize("")] == []
    await failing.warm_up()
    assert failing.warm_ups == 1


def request(user: str) -> LLMRequest:
    return LLMRequest(messages=[ChatMessage("system", "be brief"), ChatMessage("user", user)])


async def test_fake_llm_script_tool_calls_errors_and_default() -> None:
    call = ToolCall("call_1", "book_meeting", {"day": "tuesday"})
    llm = FakeLLM(
        [
            "Sure, Tuesday works.",
            FakeReply(text="Booking it.", tool_calls=(call,)),
            FakeReply(text="one two three", error=EngineError("llm died"), error_after_words=2),
        ]
    )
    events = [e async for e in llm.stream(request("book me"))]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Sure,", " Tuesday", " works."]
    assert events[-1] == LLMFinished("stop")
    events = [e async for e in llm.stream(request("ok"))]
    assert ToolCallDelta(call) in events and events[-1] == LLMFinished("tool_calls")
    seen: list[str] = []
    with pytest.raises(EngineError, match="llm died"):
        async for event in llm.stream(request("and?")):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["one", " two"]
    events = [e async for e in llm.stream(request("anything"))]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Okay."]
    assert len(llm.requests) == 4


async def test_fake_llm_callable_and_token_delay() -> None:
    llm = FakeLLM(lambda user: f"You said {user}", token_delay_s=0.01)
    started = time.perf_counter()
    text = "".join([e.text async for e in llm.stream(request("hello")) if isinstance(e, TextDelta)])
    assert text == "You said hello"
    assert time.perf_counter() - started >= 0.03


async def test_fake_llm_stream_can_be_cancelled() -> None:
    llm = FakeLLM(["a b c d e f g"], token_delay_s=0.05)

    async def consume() -> list[str]:
        return [e.text async for e in llm.stream(request("x")) if isinstance(e, TextDelta)]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.07)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_fake_vad_is_an_energy_gate() -> None:
    vad = FakeVAD()
    assert vad.speech_probability(voiced_signal(150, 20)) == 1.0
    assert vad.speech_probability(silence(20)) == 0.0
    assert vad.speech_probability(np.zeros(0, dtype=np.int16)) == 0.0
    assert vad.speech_probability((voiced_signal(150, 20) * 0.1).astype(np.int16)) == 0.0  # -20 dB echo
    vad.reset()


def test_fake_embedder_is_deterministic_normalised_and_lexical() -> None:
    embedder = FakeEmbedder()
    texts = ["Pricing starts at ten dollars", "what is the pricing", "the weather is nice", ""]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.array_equal(vectors, FakeEmbedder().embed(texts))
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(ValueError):
        FakeEmbedder(dimension=1)
