"""build_engines / engines_for_agent: providers, lazy cloud imports, fallback wrapping, per-agent variants."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from sdr_agent.engines.factory import (
    EngineSet,
    VoiceOverrideTTS,
    build_engines,
    build_llm,
    engines_for_agent,
)
from sdr_agent.engines.fakes import FakeLLM, FakeSTT, FakeTTS, FakeVAD
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.vad import SileroVAD, WebRtcVAD
from sdr_agent.engines.local.whisper_stt import WhisperSTT
from sdr_agent.settings import LLMSettings, Settings, STTSettings, TTSSettings, VADSettings


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "stt": STTSettings(provider="fake", fallback="none"),
        "tts": TTSSettings(provider="fake", fallback="none"),
        "llm": LLMSettings(provider="fake", fallback="none"),
        "vad": VADSettings(provider="fake"),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Recorder:
    """Stands in for a cloud engine or a fallback adapter and remembers how it was made."""

    def __init__(self, kind: str, arg: Any) -> None:
        self.kind, self.arg, self.name = kind, arg, kind


@pytest.fixture
def cloud_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = types.ModuleType("sdr_agent.engines.cloud.registry")
    fallback = types.ModuleType("sdr_agent.engines.fallback")
    for function in ("cloud_stt", "cloud_tts", "cloud_llm"):
        setattr(registry, function, lambda settings, function=function: Recorder(function, settings))
    for adapter in ("FallbackSTT", "FallbackTTS", "FallbackLLM"):
        setattr(fallback, adapter, lambda engines, adapter=adapter, **_: Recorder(adapter, engines))
    monkeypatch.setitem(sys.modules, "sdr_agent.engines.cloud.registry", registry)
    monkeypatch.setitem(sys.modules, "sdr_agent.engines.fallback", fallback)


def test_fake_providers_build_fakes() -> None:
    engines = build_engines(make_settings())
    assert isinstance(engines.stt, FakeSTT) and isinstance(engines.tts, FakeTTS)
    assert isinstance(engines.llm, FakeLLM) and isinstance(engines.vad_factory(), FakeVAD)
    assert engines.embedder is None


def test_local_providers_build_local_engines_without_loading_models() -> None:
    engines = build_engines(make_settings(stt=STTSettings(), tts=TTSSettings(), llm=LLMSettings(),
                                          vad=VADSettings()))
    assert isinstance(engines.stt, WhisperSTT) and isinstance(engines.tts, HibariTTS)
    assert isinstance(engines.vad_factory(), SileroVAD)
    assert engines.vad_factory() is not engines.vad_factory()  # per-call state
    webrtc = build_engines(make_settings(vad=VADSettings(provider="webrtc", webrtc_aggressiveness=3)))
    vad = webrtc.vad_factory()
    assert isinstance(vad, WebRtcVAD) and vad.aggressiveness == 3


def test_cloud_engines_are_wrapped_with_their_local_fallback(cloud_modules: None) -> None:
    settings = make_settings(
        stt=STTSettings(provider="deepgram", fallback="whisper"),
        tts=TTSSettings(provider="deepgram", fallback="hibari"),
        llm=LLMSettings(provider="ollama", fallback="grounded"),
    )
    engines = build_engines(settings)
    stt, tts, llm = engines.stt, engines.tts, engines.llm
    assert isinstance(stt, Recorder) and stt.kind == "FallbackSTT"
    assert stt.arg[0].kind == "cloud_stt" and stt.arg[0].arg is settings.stt
    assert isinstance(stt.arg[1], WhisperSTT)
    assert isinstance(tts, Recorder) and tts.kind == "FallbackTTS" and isinstance(tts.arg[1], HibariTTS)
    assert isinstance(llm, Recorder) and llm.kind == "FallbackLLM" and llm.arg[0].kind == "cloud_llm"

    bare = build_engines(make_settings(llm=LLMSettings(provider="openai", fallback="none")))
    assert isinstance(bare.llm, Recorder) and bare.llm.kind == "cloud_llm"


def test_grounded_llm_setting_builds_the_grounded_responder(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("sdr_agent.engines.local.grounded")
    module.GroundedResponder = lambda: Recorder("grounded", None)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sdr_agent.engines.local.grounded", module)
    responder = build_llm(LLMSettings(provider="grounded"))
    assert isinstance(responder, Recorder) and responder.kind == "grounded"


def test_llamacpp_needs_a_model_file_and_the_package(tmp_path: Any) -> None:
    from sdr_agent.engines.base import EngineError

    with pytest.raises(EngineError, match="GGUF_PATH"):
        build_llm(LLMSettings(provider="llamacpp"))
    with pytest.raises(EngineError, match="not a file"):
        build_llm(LLMSettings(provider="llamacpp", gguf_path=str(tmp_path / "missing.gguf")))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    if "llama_cpp" not in sys.modules:
        with pytest.raises(EngineError, match="llama-cpp-python"):
            build_llm(LLMSettings(provider="llamacpp", gguf_path=str(model)))


def base_set() -> EngineSet:
    return EngineSet(FakeSTT(["hi"]), FakeTTS(), FakeLLM(["scripted"]), FakeVAD)


def test_agent_without_choices_gets_the_base_set() -> None:
    base, settings = base_set(), make_settings()
    assert engines_for_agent(base, settings, {}) is base
    assert engines_for_agent(base, settings, {"agent": {"prompt": {"llm": "gpt-4o-mini", "temperature": 0.7}},
                                              "asr": {"provider": "elevenlabs"}, "tts": "nonsense"}) is base


def test_agent_voice_wraps_the_tts_and_keeps_the_scripted_fakes() -> None:
    base, settings = base_set(), make_settings()
    variant = engines_for_agent(base, settings, {"tts": {"voice_id": "fable"}})
    assert variant is not base and isinstance(variant.tts, VoiceOverrideTTS)
    assert variant.tts.inner is base.tts and variant.llm is base.llm and variant.stt is base.stt
    assert engines_for_agent(base, settings, {"tts": {"voice_id": "fable"}}) is variant  # cached


async def test_voice_override_applies_only_when_no_voice_is_given() -> None:
    inner = FakeTTS()
    tts = VoiceOverrideTTS(inner, "emma")
    _ = [c async for c in tts.synthesize("Hello.")]
    _ = [c async for c in tts.synthesize("Hello.", "fable")]
    assert inner.calls == [("Hello.", "emma"), ("Hello.", "fable")]
    await tts.warm_up()
    assert inner.warm_ups == 1 and tts.name == inner.name


def test_agent_engine_choices_rebuild_only_what_differs(cloud_modules: None) -> None:
    base = base_set()
    settings = make_settings(llm=LLMSettings(provider="ollama", fallback="none", model="llama3.2"))
    variant = engines_for_agent(base, settings, {"agent": {"prompt": {"llm": "qwen2.5:7b", "temperature": 0.1,
                                                                      "max_tokens": -1}}})
    llm = variant.llm
    assert isinstance(llm, Recorder) and llm.arg.model == "qwen2.5:7b" and llm.arg.temperature == 0.1
    assert llm.arg.max_tokens == settings.llm.max_tokens
    assert variant.stt is base.stt and variant.tts is base.tts

    switched = engines_for_agent(base, settings, {"agent": {"prompt": {"llm": "openai:gpt-4o-mini"}},
                                                  "asr": {"provider": "whisper"},
                                                  "tts": {"model_id": "aura-2-orion-en"}})
    assert isinstance(switched.stt, WhisperSTT)
    assert isinstance(switched.tts, Recorder) and switched.tts.arg.deepgram_model == "aura-2-orion-en"
    assert isinstance(switched.llm, Recorder) and switched.llm.arg.provider == "openai"
    assert switched.llm.arg.model == "gpt-4o-mini"


async def test_engine_set_warm_up_reports_each_engine_and_survives_failures() -> None:
    class BrokenTTS(FakeTTS):
        async def warm_up(self) -> None:
            raise RuntimeError("no voice")

    timings = await EngineSet(FakeSTT(), FakeTTS(), FakeLLM(), FakeVAD).warm_up()
    assert set(timings) == {"tts"}  # FakeSTT has nothing to warm
    assert await EngineSet(FakeSTT(), BrokenTTS(), FakeLLM(), FakeVAD).warm_up() == {}
