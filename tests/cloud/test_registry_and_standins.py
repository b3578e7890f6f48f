"""Cloud engines by settings (registry and the engines factory), and one caller turn through all stand-ins."""

from __future__ import annotations

import pytest
from cloud_audio import Collector, send_all, silence, speech
from pydantic import SecretStr

from sdr_agent.engines.base import ChatMessage, EngineError, LLMRequest, TextDelta
from sdr_agent.engines.cloud.deepgram_stt import DeepgramSTT
from sdr_agent.engines.cloud.deepgram_tts import DeepgramTTS
from sdr_agent.engines.cloud.ollama import OllamaLLM
from sdr_agent.engines.cloud.openai_compat import OpenAICompatLLM
from sdr_agent.engines.cloud.registry import cloud_llm, cloud_stt, cloud_tts
from sdr_agent.engines.factory import build_llm, build_stt, build_tts
from sdr_agent.engines.fallback import FallbackLLM, FallbackSTT, FallbackTTS
from sdr_agent.settings import LLMSettings, Settings, STTSettings, TTSSettings
from sdr_agent.sim.cloud_standins import CloudStandIns

KEY = SecretStr("k")


def test_registry_builds_each_provider() -> None:
    assert isinstance(cloud_stt(STTSettings(provider="deepgram", deepgram_api_key=KEY)), DeepgramSTT)
    assert isinstance(cloud_tts(TTSSettings(provider="deepgram", deepgram_api_key=KEY)), DeepgramTTS)
    assert isinstance(cloud_llm(LLMSettings(provider="ollama")), OllamaLLM)
    assert isinstance(cloud_llm(LLMSettings(provider="openai")), OpenAICompatLLM)


def test_registry_refuses_missing_keys_and_unknown_providers() -> None:
    with pytest.raises(EngineError, match="SDR_STT__DEEPGRAM_API_KEY"):
        cloud_stt(STTSettings(provider="deepgram"))
    with pytest.raises(EngineError, match="SDR_TTS__DEEPGRAM_API_KEY"):
        cloud_tts(TTSSettings(provider="deepgram", deepgram_api_key=SecretStr("")))
    with pytest.raises(EngineError, match="whisper"):
        cloud_stt(STTSettings(provider="whisper"))
    with pytest.raises(EngineError, match="grounded"):
        cloud_llm(LLMSettings(provider="grounded"))


def test_the_factory_wraps_cloud_engines_in_fallbacks() -> None:
    stt = build_stt(STTSettings(provider="deepgram", deepgram_api_key=KEY, fallback="whisper"))
    tts = build_tts(TTSSettings(provider="deepgram", deepgram_api_key=KEY, fallback="hibari"))
    llm = build_llm(LLMSettings(provider="ollama", fallback="grounded"))
    assert isinstance(stt, FallbackSTT) and stt.name.startswith("deepgram+")
    assert isinstance(tts, FallbackTTS) and tts.name.startswith("deepgram+")
    assert isinstance(llm, FallbackLLM) and llm.name.startswith("ollama+")
    assert isinstance(
        build_stt(STTSettings(provider="deepgram", deepgram_api_key=KEY, fallback="none")), DeepgramSTT
    )


@pytest.mark.parametrize("llm_kind", ["ollama", "openai"])
async def test_one_caller_turn_through_all_three_stand_ins(llm_kind: str) -> None:
    async with CloudStandIns(
        utterances=["Can you tell me the price?"],
        replies=["It is $49 a seat."],
        llm=llm_kind,  # type: ignore[arg-type]
    ) as cloud:
        settings = cloud.apply(Settings(_env_file=None))  # type: ignore[call-arg]
        assert settings.stt.provider == "deepgram" and settings.llm.provider == llm_kind
        stt, tts, llm = cloud_stt(settings.stt), cloud_tts(settings.tts), cloud_llm(settings.llm)

        stream = await stt.open_stream()
        heard = Collector(stream)
        await send_all(stream, speech(600) + silence(400), pace_s=0.001)
        (final,) = await heard.wait_finals(1)
        await stream.aclose()

        request = LLMRequest(messages=[ChatMessage(role="user", content=final.text)])
        reply = "".join([e.text async for e in llm.stream(request) if isinstance(e, TextDelta)])
        audio = b"".join([chunk.data async for chunk in tts.synthesize(reply)])
        await tts.aclose()  # type: ignore[attr-defined]
        await llm.aclose()  # type: ignore[attr-defined]

    assert final.text == "Can you tell me the price?"
    assert reply == "It is $49 a seat."
    assert len(audio) == cloud.deepgram.bytes_per_char * len(reply)
    env = cloud.env()
    assert env["SDR_STT__PROVIDER"] == "deepgram" and env["SDR_LLM__PROVIDER"] == llm_kind
    assert env["SDR_TTS__DEEPGRAM_URL"].startswith("ws://127.0.0.1:")
