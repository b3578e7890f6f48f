"""The capacity bench's stand-in engines answer like cloud engines: after a delay, without CPU work."""

from __future__ import annotations

import asyncio

from bench.standin_engines import CALLER_SENTENCES, StandInSTT, standin_engines

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.engines.base import AudioFrame, Transcript
from sdr_agent.engines.fakes import FakeLLM, FakeTTS, voiced_signal
from sdr_agent.settings import VADSettings


def frame(loud: bool) -> AudioFrame:
    pcm = voiced_signal(150.0, 20.0) if loud else voiced_signal(150.0, 20.0, peak=0.001)
    return AudioFrame(ulaw=pcm_to_ulaw(pcm), pcm=pcm)


async def collect(stream: object, count: int) -> list[Transcript]:
    got: list[Transcript] = []
    async for item in stream.results():  # type: ignore[attr-defined]
        got.append(item)
        if len(got) == count:
            break
    return got


async def test_partial_then_final_after_their_delays() -> None:
    stt = StandInSTT(partial_delay_s=0.01, final_delay_s=0.02)
    stream = await stt.open_stream()
    for _ in range(15):
        await stream.send(frame(loud=True))
    await stream.finalize()
    await stream.send(frame(loud=False))
    await stream.finalize()  # nothing voiced since: an empty final
    partial, final, empty = await asyncio.wait_for(collect(stream, 3), 2.0)
    assert not partial.is_final and partial.text == CALLER_SENTENCES[0].split()[0]
    assert final.speech_final and final.text == CALLER_SENTENCES[0]
    assert empty.speech_final and empty.text == ""
    await stream.aclose()


async def test_engine_set_uses_delayed_fakes_and_the_chosen_vad() -> None:
    engines = standin_engines(VADSettings(provider="fake"))
    assert isinstance(engines.llm, FakeLLM) and engines.llm.first_token_delay_s > 0
    assert isinstance(engines.tts, FakeTTS) and engines.tts.delay_s > 0
    assert type(engines.vad_factory()).__name__ == "FakeVAD"
