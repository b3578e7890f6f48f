"""Deepgram streaming STT against the listen stand-in: ordering, keep-alive, finalize, reconnect, faults."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from cloud_audio import Collector, eventually, send_all, silence, speech

from sdr_agent.engines.base import AudioFrame, EngineError
from sdr_agent.engines.cloud.deepgram_stt import DeepgramSTT
from sdr_agent.settings import STTSettings
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.deepgram import DeepgramStandIn


async def test_partials_come_before_one_final_with_the_whole_utterance(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.extend(["I would like to book a demo", "Tuesday works"])
    stream = await DeepgramSTT(stt_settings).open_stream()
    collector = Collector(stream)
    await send_all(stream, speech(1200) + silence(400) + speech(400) + silence(400), pace_s=0.001)
    finals = await collector.wait_finals(2)
    await stream.aclose()
    await collector.wait_done()

    assert [f.text for f in finals] == ["I would like to book a demo", "Tuesday works"]
    first_final = collector.items.index(finals[0])
    partials = collector.items[:first_final]
    assert partials and all(not p.is_final for p in partials)
    assert all("I would like to book a demo".startswith(p.text) for p in partials)
    assert [len(p.text) for p in partials] == sorted(len(p.text) for p in partials)  # they only grow
    assert finals[1].start_s >= finals[0].end_s
    query = deepgram.listen_queries[0]
    assert query["encoding"] == "mulaw" and query["sample_rate"] == "8000" and query["channels"] == "1"
    assert query["interim_results"] == "true" and query["vad_events"] == "true"
    assert (
        query["endpointing"] == "300" and query["utterance_end_ms"] == "1000" and query["model"] == "nova-3"
    )
    assert deepgram.controls[-1] == "CloseStream"


async def test_audio_goes_out_untouched_and_empty_frames_never(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    stream = await DeepgramSTT(stt_settings).open_stream()
    frames = silence(200)
    await stream.send(AudioFrame(ulaw=b"", pcm=frames[0].pcm[:0]))
    await send_all(stream, frames)
    await stream.aclose()
    assert deepgram.audio_bytes == 160 * len(frames)
    assert deepgram.empty_binary_frames == 0


async def test_keepalive_keeps_a_silent_socket_open(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    """Fast version: the stand-in closes after 0.6 s without messages; KeepAlive every 0.15 s prevents it."""
    deepgram.idle_timeout_s = 0.6
    deepgram.utterances.append("still there")
    settings = stt_settings.model_copy(update={"deepgram_keepalive_interval_s": 0.15})
    stream = await DeepgramSTT(settings).open_stream()
    collector = Collector(stream)
    await asyncio.sleep(1.5)  # the call loop forwards nothing while the agent speaks
    await send_all(stream, speech(400) + silence(400))
    finals = await collector.wait_finals(1)
    await stream.aclose()
    assert [f.text for f in finals] == ["still there"]
    assert deepgram.keepalives >= 5
    assert deepgram.idle_closes == 0 and deepgram.listen_connections == 1


async def test_socket_survives_twelve_seconds_without_audio(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    """Real timings (slow-ish, ~12 s): Deepgram's 10 s idle close vs the default 3 s KeepAlive."""
    deepgram.idle_timeout_s = 10.0
    deepgram.utterances.append("hello again")
    stream = await DeepgramSTT(
        stt_settings.model_copy(update={"deepgram_keepalive_interval_s": 3.0})
    ).open_stream()
    collector = Collector(stream)
    await send_all(stream, silence(200))
    await asyncio.sleep(12.0)
    await send_all(stream, speech(400) + silence(400))
    finals = await collector.wait_finals(1)
    await stream.aclose()
    assert [f.text for f in finals] == ["hello again"]
    assert deepgram.keepalives >= 3
    assert deepgram.idle_closes == 0 and deepgram.listen_connections == 1 and stream.reconnects == 0


async def test_without_keepalive_the_stand_in_closes_like_deepgram(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    """The control experiment: the idle close is real, so the keep-alive tests can fail."""
    deepgram.idle_timeout_s = 0.3
    stream = await DeepgramSTT(
        stt_settings.model_copy(update={"deepgram_keepalive_interval_s": 60.0})
    ).open_stream()
    await asyncio.sleep(0.8)
    await stream.aclose()
    assert deepgram.idle_closes >= 1


async def test_finalize_flushes_the_utterance_at_once(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.append("send me the pricing")
    stream = await DeepgramSTT(stt_settings).open_stream()
    collector = Collector(stream)
    await send_all(stream, speech(600))
    await stream.finalize()  # returns once the from_finalize final is in the results
    await asyncio.sleep(0.05)
    assert [f.text for f in collector.finals] == ["send me the pricing"]
    assert "Finalize" in deepgram.controls
    await stream.finalize()  # nothing buffered: an empty final, still exactly one per finalize
    await asyncio.sleep(0.05)
    assert [f.text for f in collector.finals] == ["send me the pricing", ""]
    await stream.aclose()


async def test_finalize_unanswered_on_a_quiet_socket_gives_an_empty_final(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.answer_empty_finalize = False
    stream = await DeepgramSTT(
        stt_settings.model_copy(update={"deepgram_finalize_timeout_s": 0.2})
    ).open_stream()
    collector = Collector(stream)
    await stream.finalize()
    await asyncio.sleep(0.05)
    assert [(f.text, f.speech_final) for f in collector.finals] == [("", True)]
    await stream.aclose()


async def test_clear_drops_results_for_audio_sent_before_it(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.extend(["this was the agent's echo", "a real question"])
    stream = await DeepgramSTT(stt_settings).open_stream()
    collector = Collector(stream)
    await send_all(stream, speech(400))
    await stream.clear()
    await send_all(stream, silence(400) + speech(400) + silence(400))
    finals = await collector.wait_finals(1)
    await asyncio.sleep(0.1)
    await stream.aclose()
    assert [f.text for f in finals] == ["a real question"]
    assert all("echo" not in t.text for t in collector.items if t.end_s > 0.45)


async def test_reconnects_after_a_drop_and_keeps_the_utterance(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.append("we have forty sales reps")
    deepgram.faults = FaultPlan(disconnect_after=25, times=1)
    stream = await DeepgramSTT(stt_settings).open_stream()
    collector = Collector(stream)
    await send_all(stream, speech(1000) + silence(400), pace_s=0.002)
    finals = await collector.wait_finals(1)
    await stream.aclose()
    assert [f.text for f in finals] == ["we have forty sales reps"]
    assert stream.reconnects == 1 and deepgram.listen_connections == 2
    assert collector.error is None


async def test_a_socket_that_keeps_dropping_ends_in_an_engine_error(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.append("never heard")
    deepgram.faults = FaultPlan(disconnect_after=3)
    settings = stt_settings.model_copy(
        update={"deepgram_reconnect_attempts": 2, "deepgram_reconnect_max_delay_s": 0.05}
    )
    stream = await DeepgramSTT(settings).open_stream()
    collector = Collector(stream)
    for frame in speech(2000):
        try:
            await stream.send(frame)
        except EngineError:
            break
        await asyncio.sleep(0.005)
    await collector.wait_done()
    await stream.aclose()
    assert isinstance(collector.error, EngineError)


@pytest.mark.parametrize(
    ("fault", "message"),
    [(FaultPlan(http_status=500), "HTTP 500"), (FaultPlan(http_status=429), "HTTP 429")],
)
async def test_refused_handshake_is_an_engine_error(
    deepgram: DeepgramStandIn, stt_settings: STTSettings, fault: FaultPlan, message: str
) -> None:
    deepgram.faults = dataclasses.replace(fault)  # parameters are shared between tests
    with pytest.raises(EngineError, match=message):
        await DeepgramSTT(stt_settings).open_stream()


async def test_wrong_key_is_refused(deepgram: DeepgramStandIn, stt_settings: STTSettings) -> None:
    from pydantic import SecretStr

    with pytest.raises(EngineError, match="HTTP 401"):
        await DeepgramSTT(
            stt_settings.model_copy(update={"deepgram_api_key": SecretStr("wrong")})
        ).open_stream()


async def test_malformed_frame_fails_the_stream(deepgram: DeepgramStandIn, stt_settings: STTSettings) -> None:
    deepgram.faults = FaultPlan(malformed_after=3)
    stream = await DeepgramSTT(stt_settings).open_stream()
    collector = Collector(stream)
    await send_all(stream, silence(200))
    await collector.wait_done()
    assert isinstance(collector.error, EngineError) and "not JSON" in str(collector.error)
    with pytest.raises(EngineError):
        await stream.send(silence(20)[0])
    await stream.aclose()


async def test_silent_server_is_detected_as_stalled(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.faults = FaultPlan(first_byte_delay_s=5.0)
    settings = stt_settings.model_copy(update={"deepgram_stall_timeout_s": 0.3})
    stream = await DeepgramSTT(settings).open_stream()
    collector = Collector(stream)
    with pytest.raises(EngineError, match="sent nothing"):
        await send_all(stream, speech(2000), pace_s=0.01)  # send raises once the stream has failed
    await collector.wait_done(timeout=3.0)
    await stream.aclose()
    assert isinstance(collector.error, EngineError) and "sent nothing" in str(collector.error)


async def test_batch_transcription_uses_the_rest_endpoint(
    deepgram: DeepgramStandIn, stt_settings: STTSettings
) -> None:
    deepgram.utterances.append("batch words")
    pcm = speech(200)[0].pcm
    assert await DeepgramSTT(stt_settings).transcribe(pcm, 8000) == "batch words"
    await eventually(lambda: not deepgram.utterances)
