"""FallbackTTS over Deepgram speak: every injected fault ends in the fallback's audio and a switch."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from sdr_agent.engines.base import EngineError, SynthesizedAudio, TextToSpeech
from sdr_agent.engines.cloud.deepgram_tts import DeepgramTTS
from sdr_agent.engines.fakes import FakeTTS
from sdr_agent.engines.fallback import EngineSwitch, FallbackTTS
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.deepgram import DeepgramStandIn

SENTENCE = "Thanks for your time, I will send the details today."
FAULTS = {
    "slow first byte": FaultPlan(first_byte_delay_s=2.0),
    "handshake 500": FaultPlan(http_status=500),
    "disconnect mid-sentence": FaultPlan(disconnect_after=2),
    "malformed frame": FaultPlan(malformed_after=1),
}


async def collect(
    tts: TextToSpeech, text: str = SENTENCE, voice: str | None = None
) -> list[SynthesizedAudio]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


# REST audio is a raw byte stream: there is no framing a malformed chunk could break.
CASES = [("websocket", name) for name in FAULTS] + [
    ("rest", name) for name in FAULTS if name != "malformed frame"
]


@pytest.mark.parametrize(("transport", "fault_name"), CASES, ids=[f"{t}-{n}" for t, n in CASES])
async def test_each_fault_ends_in_fallback_audio(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings, transport: str, fault_name: str
) -> None:
    fault = FAULTS[fault_name]
    deepgram.speak_faults = dataclasses.replace(fault)  # parameters are shared between tests
    fake = FakeTTS()
    reported: list[EngineSwitch] = []
    primary = DeepgramTTS(tts_settings.model_copy(update={"deepgram_transport": transport}))
    tts = FallbackTTS([primary, fake], first_result_timeout_s=0.5, on_switch=reported.append)
    chunks = await collect(tts, voice="aura-asteria-en")
    await tts.aclose()
    await primary.aclose()
    fallback_audio = [c for c in chunks if c.encoding == "pcm16"]
    assert sum(len(c.data) for c in fallback_audio) == 2 * int(
        fake.duration_ms(SENTENCE) * 8
    )  # the whole sentence
    assert fake.calls == [(SENTENCE, None)]  # the Deepgram voice id is not passed to the fallback
    assert [(s.kind, s.from_engine, s.to_engine) for s in reported] == [("tts", "deepgram", "fake-tts")]


async def test_healthy_primary_is_used_and_recovers_after_a_fault(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings
) -> None:
    fake = FakeTTS()
    primary = DeepgramTTS(tts_settings.model_copy(update={"deepgram_transport": "rest"}))
    reported: list[EngineSwitch] = []
    tts = FallbackTTS(
        [primary, fake], first_result_timeout_s=0.5, on_switch=reported.append, probe_interval_s=0.05
    )
    assert {c.encoding for c in await collect(tts, "Hello.")} == {"mulaw"}
    deepgram.speak_faults = FaultPlan(http_status=500, times=1)
    assert {c.encoding for c in await collect(tts, "Hello again.")} == {"pcm16"}
    async with asyncio.timeout(3.0):
        while not tts.roster.is_healthy(0):
            await asyncio.sleep(0.02)
    assert {c.encoding for c in await collect(tts, "And back.")} == {"mulaw"}
    await tts.aclose()
    await primary.aclose()
    assert [(s.from_engine, s.to_engine) for s in reported] == [
        ("deepgram", "fake-tts"),
        ("fake-tts", "deepgram"),
    ]
    assert reported[1].reason == "recovered"


async def test_barge_in_through_the_fallback_adapter_still_clears(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings
) -> None:
    deepgram.chunk_interval_s = 0.02
    primary = DeepgramTTS(tts_settings)
    tts = FallbackTTS([primary, FakeTTS()], first_result_timeout_s=0.5)
    chunks = tts.synthesize(SENTENCE * 3)
    await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]
    async with asyncio.timeout(2.0):
        while "Clear" not in deepgram.speak_messages:
            await asyncio.sleep(0.01)
    assert tts.switches == []
    await tts.aclose()
    await primary.aclose()


async def test_all_failing_is_an_engine_error() -> None:
    tts = FallbackTTS([FakeTTS(fail_on="x"), FakeTTS(fail_on="x")], first_result_timeout_s=0.5)
    with pytest.raises(EngineError, match="every text-to-speech engine failed"):
        await collect(tts, "x marks the spot")
    await tts.aclose()


class ColdFailingTTS(FakeTTS):
    async def warm_up(self) -> None:
        raise EngineError("cannot reach the voice service")


async def test_warm_up_warms_every_engine_and_marks_a_failing_one() -> None:
    broken, local = ColdFailingTTS(), FakeTTS()
    broken.name = "cloud"
    reported: list[EngineSwitch] = []
    tts = FallbackTTS(
        [broken, local], first_result_timeout_s=0.5, on_switch=reported.append, probe_interval_s=60
    )
    await tts.warm_up()
    assert local.warm_ups == 1
    await collect(tts, "Hello.")
    await tts.aclose()
    assert broken.calls == [] and local.calls == [("Hello.", None)]
    assert [(s.from_engine, s.to_engine, s.reason) for s in reported] == [("cloud", "fake-tts", "unhealthy")]
    only_broken = FallbackTTS([ColdFailingTTS()], first_result_timeout_s=0.5)
    with pytest.raises(EngineError, match="no tts engine warmed up"):
        await only_broken.warm_up()
    await only_broken.aclose()
