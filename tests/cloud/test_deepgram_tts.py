"""Deepgram TTS against the speak stand-in: μ-law 8 kHz, pooled sockets, Clear on barge-in, REST, faults."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import pytest
from cloud_audio import eventually

from sdr_agent.engines.base import EngineError, SynthesizedAudio
from sdr_agent.engines.cloud.deepgram_tts import DeepgramTTS
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.deepgram import DeepgramStandIn


async def collect(tts: DeepgramTTS, text: str, voice: str | None = None) -> list[SynthesizedAudio]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


async def test_sentences_stream_twilio_ready_mulaw_over_one_socket(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings
) -> None:
    tts = DeepgramTTS(tts_settings)
    first = await collect(tts, "Hello there.")
    second = await collect(tts, "How are you today?")
    await tts.aclose()
    assert all(c.encoding == "mulaw" and c.sample_rate == 8000 for c in first + second)
    assert sum(len(c.data) for c in first) == deepgram.bytes_per_char * len("Hello there.")
    assert sum(len(c.data) for c in second) == deepgram.bytes_per_char * len("How are you today?")
    assert deepgram.speak_connections == 1  # the socket is pooled between sentences
    assert deepgram.speak_messages[:4] == ["Speak", "Flush", "Speak", "Flush"]
    query = deepgram.speak_queries[0]
    assert (query["encoding"], query["sample_rate"], query["model"]) == ("mulaw", "8000", "aura-2-thalia-en")


async def test_closing_early_sends_clear_and_no_stale_audio_follows(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings
) -> None:
    deepgram.chunk_interval_s = 0.02
    tts = DeepgramTTS(tts_settings)
    long_text = "This is a long sentence that the caller is going to interrupt halfway through, surely."
    chunks = tts.synthesize(long_text)
    received = [await anext(chunks), await anext(chunks)]
    await chunks.aclose()  # type: ignore[attr-defined]  # barge-in
    await eventually(lambda: "Clear" in deepgram.speak_messages)
    assert sum(len(c.data) for c in received) < deepgram.bytes_per_char * len(long_text)

    after = await collect(tts, "Sure.")
    await tts.aclose()
    assert sum(len(c.data) for c in after) == deepgram.bytes_per_char * len("Sure.")  # nothing stale mixed in
    assert deepgram.speak_connections == 1  # reused only after Cleared
    assert deepgram.speak_bytes_sent < deepgram.bytes_per_char * (len(long_text) + len("Sure."))


async def test_aura_voice_picks_the_model(deepgram: DeepgramStandIn, tts_settings: TTSSettings) -> None:
    tts = DeepgramTTS(tts_settings)
    await collect(tts, "Hi.", voice="aura-asteria-en")
    await collect(tts, "Hi.", voice="en-us")  # a voice of another engine: default model
    await tts.aclose()
    assert [q["model"] for q in deepgram.speak_queries] == ["aura-asteria-en", "aura-2-thalia-en"]


async def test_empty_text_makes_no_request(deepgram: DeepgramStandIn, tts_settings: TTSSettings) -> None:
    tts = DeepgramTTS(tts_settings)
    assert await collect(tts, "   ") == []
    await tts.aclose()
    assert deepgram.speak_connections == 0


async def test_rest_path_asks_for_raw_mulaw(deepgram: DeepgramStandIn, tts_settings: TTSSettings) -> None:
    tts = DeepgramTTS(tts_settings.model_copy(update={"deepgram_transport": "rest"}))
    chunks = await collect(tts, "Thanks for taking my call.")
    await tts.aclose()
    assert sum(len(c.data) for c in chunks) == deepgram.bytes_per_char * len("Thanks for taking my call.")
    assert all(c.encoding == "mulaw" and c.sample_rate == 8000 for c in chunks)
    query = deepgram.rest_speak_queries[0]
    assert (query["container"], query["encoding"], query["sample_rate"]) == ("none", "mulaw", "8000")


async def test_warm_up_opens_a_socket_for_the_first_sentence(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings
) -> None:
    tts = DeepgramTTS(tts_settings)
    await tts.warm_up()
    assert deepgram.speak_connections == 1
    await collect(tts, "Hello.")
    await tts.aclose()
    assert deepgram.speak_connections == 1


@pytest.mark.parametrize(
    ("transport", "fault", "match"),
    [
        ("websocket", FaultPlan(http_status=500), "HTTP 500"),
        ("websocket", FaultPlan(disconnect_after=2), "closed mid-sentence"),
        ("websocket", FaultPlan(malformed_after=1), "not JSON"),
        ("rest", FaultPlan(http_status=500), "HTTP 500"),
        ("rest", FaultPlan(disconnect_after=2), "request failed"),
        # REST audio is a raw byte stream: there is no framing a malformed chunk could break.
    ],
)
async def test_faults_are_engine_errors(
    deepgram: DeepgramStandIn, tts_settings: TTSSettings, transport: str, fault: FaultPlan, match: str
) -> None:
    deepgram.speak_faults = dataclasses.replace(fault)  # parameters are shared between tests
    tts = DeepgramTTS(tts_settings.model_copy(update={"deepgram_transport": transport}))
    with pytest.raises(EngineError, match=match):
        await collect(tts, "A sentence long enough for several chunks of audio.")
    await tts.aclose()


async def test_silent_server_times_out(deepgram: DeepgramStandIn, tts_settings: TTSSettings) -> None:
    deepgram.speak_faults = FaultPlan(first_byte_delay_s=3.0)
    tts = DeepgramTTS(tts_settings.model_copy(update={"deepgram_idle_timeout_s": 0.3}))
    with pytest.raises(EngineError, match="sent nothing"):
        await collect(tts, "Hello.")
    with contextlib.suppress(Exception):
        await tts.aclose()


async def test_probe_checks_the_handshake(deepgram: DeepgramStandIn, tts_settings: TTSSettings) -> None:
    tts = DeepgramTTS(tts_settings)
    await tts.probe()
    deepgram.speak_faults = FaultPlan(http_status=503)
    with pytest.raises(EngineError):
        await tts.probe()
    await asyncio.sleep(0)
