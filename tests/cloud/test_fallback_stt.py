"""FallbackSTT over Deepgram listen: every injected fault still yields the caller's words, and the switch."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from cloud_audio import Collector, send_all, silence, speech

from sdr_agent.engines.base import EngineError
from sdr_agent.engines.cloud.deepgram_stt import DeepgramSTT
from sdr_agent.engines.fakes import FakeSTT
from sdr_agent.engines.fallback import EngineSwitch, FallbackSTT, switches_reported_to
from sdr_agent.settings import STTSettings
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.deepgram import DeepgramStandIn

FAULTS = {
    "slow first byte": FaultPlan(first_byte_delay_s=5.0),
    "handshake 500": FaultPlan(http_status=500),
    "keeps disconnecting": FaultPlan(disconnect_after=5),
    "malformed frame": FaultPlan(malformed_after=5),
}


def stt_pair(
    settings: STTSettings, fallback: FakeSTT, reported: list[EngineSwitch], **kwargs: float
) -> FallbackSTT:
    settings = settings.model_copy(
        update={"deepgram_reconnect_attempts": 2, "deepgram_reconnect_max_delay_s": 0.05}
    )
    return FallbackSTT(
        [DeepgramSTT(settings), fallback], first_result_timeout_s=1.0, on_switch=reported.append, **kwargs
    )


async def send_tolerant(stream: object, frames: list[object], pace_s: float = 0.005) -> None:
    for frame in frames:
        await stream.send(frame)  # type: ignore[attr-defined]
        await asyncio.sleep(pace_s)


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_each_fault_still_delivers_the_utterance(
    deepgram: DeepgramStandIn, stt_settings: STTSettings, fault: FaultPlan
) -> None:
    deepgram.utterances.append("heard by deepgram")
    deepgram.faults = dataclasses.replace(fault)  # parameters are shared between tests
    reported: list[EngineSwitch] = []
    per_call: list[EngineSwitch] = []
    stt = stt_pair(stt_settings, FakeSTT(["heard by the fallback"]), reported)
    with switches_reported_to(per_call.append):
        stream = await stt.open_stream()
        collector = Collector(stream)
        await send_tolerant(stream, speech(600))
        await stream.finalize()
        finals = await collector.wait_finals(1)
    await stream.aclose()
    await stt.aclose()
    assert [f.text for f in finals] == [
        "heard by the fallback"
    ]  # the whole utterance, replayed into the fallback
    assert [(s.kind, s.from_engine, s.to_engine) for s in reported] == [("stt", "deepgram", "fake-stt")]
    assert per_call == reported
    assert collector.error is None


async def test_a_single_drop_is_absorbed_by_reconnecting(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.append("heard by deepgram")
    deepgram.faults = FaultPlan(disconnect_after=10, times=1)
    reported: list[EngineSwitch] = []
    stt = stt_pair(stt_settings, FakeSTT(["heard by the fallback"]), reported)
    stream = await stt.open_stream()
    collector = Collector(stream)
    await send_tolerant(stream, speech(600) + silence(400))
    finals = await collector.wait_finals(1)
    await stream.aclose()
    await stt.aclose()
    assert [f.text for f in finals] == ["heard by deepgram"]
    assert reported == [] and deepgram.listen_connections == 2


async def test_switches_back_after_the_primary_recovers(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.append("deepgram is back")
    deepgram.faults = FaultPlan(http_status=500, times=1)
    reported: list[EngineSwitch] = []
    stt = stt_pair(stt_settings, FakeSTT(["first answer"]), reported, probe_interval_s=0.05)
    stream = await stt.open_stream()
    collector = Collector(stream)
    assert stream.engine_name == "fake-stt"
    async with asyncio.timeout(3.0):
        while not stt.roster.is_healthy(0):
            await asyncio.sleep(0.02)
    await send_tolerant(stream, speech(400))
    await stream.finalize()
    await collector.wait_finals(1)
    async with asyncio.timeout(3.0):  # the move back happens at the turn boundary
        while stream.engine_name != "deepgram":
            await asyncio.sleep(0.02)
    await send_tolerant(stream, speech(400) + silence(400), pace_s=0.002)
    finals = await collector.wait_finals(2)
    await stream.aclose()
    await stt.aclose()
    assert [f.text for f in finals] == ["first answer", "deepgram is back"]
    assert [(s.from_engine, s.to_engine, s.reason) for s in reported][1] == (
        "fake-stt",
        "deepgram",
        "recovered",
    )


async def test_no_engine_left_is_an_engine_error(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.faults = FaultPlan(http_status=500)
    stt = stt_pair(stt_settings, FakeSTT(fail_with=EngineError("local model crashed")), [])
    stream = await stt.open_stream()
    await send_all(stream, speech(200))
    with pytest.raises(EngineError, match="last speech-to-text engine failed"):
        await stream.finalize()
    await stream.aclose()
    await stt.aclose()


async def test_open_fails_when_every_engine_refuses(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.faults = FaultPlan(http_status=500)
    stt = FallbackSTT([DeepgramSTT(stt_settings), DeepgramSTT(stt_settings)], first_result_timeout_s=0.5)
    with pytest.raises(EngineError, match="no speech-to-text engine could open"):
        await stt.open_stream()
    await stt.aclose()


async def test_a_failed_move_back_keeps_the_fallback_without_losing_or_doubling_results(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.faults = FaultPlan(http_status=500, times=1)
    reported: list[EngineSwitch] = []
    stt = stt_pair(stt_settings, FakeSTT(["first answer", "second answer"]), reported, probe_interval_s=0.05)
    stream = await stt.open_stream()
    collector = Collector(stream)
    async with asyncio.timeout(3.0):
        while not stt.roster.is_healthy(0):
            await asyncio.sleep(0.02)
    deepgram.faults = FaultPlan(http_status=500)  # down again when the stream tries to move back
    await send_tolerant(stream, speech(400))
    await stream.finalize()
    await collector.wait_finals(1)
    async with asyncio.timeout(3.0):
        while stt.roster.is_healthy(0):
            await asyncio.sleep(0.02)
    await send_tolerant(stream, speech(400))
    await stream.finalize()
    await collector.wait_finals(2)
    await asyncio.sleep(0.1)
    await stream.aclose()
    await stt.aclose()
    assert [f.text for f in collector.finals] == ["first answer", "second answer"]
    assert stream.engine_name == "fake-stt" and len(reported) == 1
