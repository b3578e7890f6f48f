"""The one place engines are created from settings, and per agent from its ``conversation_config``.

Nothing is built at import time and heavy models are process-wide (see the engine modules), so building
an ``EngineSet`` is cheap; models load on first use or in ``EngineSet.warm_up()``. Cloud engines, the
fallback adapters and the grounded responder are imported only when settings name them. Fakes are never
wrapped in a fallback, so tests see the failures they inject.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sdr_agent.engines.base import (
    Embedder,
    LanguageModel,
    SpeechToText,
    SynthesizedAudio,
    TextToSpeech,
    VADFactory,
    VoiceActivityDetector,
)
from sdr_agent.settings import LLMSettings, Settings, STTSettings, TTSSettings, VADSettings

log = logging.getLogger(__name__)


@runtime_checkable
class SupportsWarmUp(Protocol):
    """An engine that loads its model ahead of the first call."""

    async def warm_up(self) -> None: ...

STT_PROVIDERS = ("whisper", "deepgram", "fake")
TTS_PROVIDERS = ("hibari", "deepgram", "fake")
LLM_PROVIDERS = ("grounded", "ollama", "openai", "llamacpp", "fake")
GENERATIVE_LLMS = ("ollama", "openai", "llamacpp")
# What an agent's conversation_config may name. Fakes and stand-ins are never among them: only process
# settings (or a test) choose those, so no API client can switch a live agent to a scripted engine.
STAND_INS = ("fake",)
AGENT_STT_PROVIDERS = tuple(p for p in STT_PROVIDERS if p not in STAND_INS)
AGENT_TTS_PROVIDERS = tuple(p for p in TTS_PROVIDERS if p not in STAND_INS)
AGENT_LLM_PROVIDERS = tuple(p for p in LLM_PROVIDERS if p not in STAND_INS)
# Model names that tell nothing about a model we can reach (ElevenLabs' own switch for custom LLMs).
IGNORED_LLM_NAMES = ("custom-llm", "")


@dataclass
class EngineSet:
    stt: SpeechToText
    tts: TextToSpeech
    llm: LanguageModel
    vad_factory: VADFactory
    embedder: Embedder | None = None
    # Per-agent variants built by ``engines_for_agent``, keyed by their effective engine settings.
    variants: dict[str, EngineSet] = field(default_factory=dict, repr=False, compare=False)

    async def warm_up(self) -> dict[str, float]:
        """Load models and run each engine once; returns seconds per engine. Failures are logged, not raised:
        a cold engine is slow, not broken, and the call loop survives engine errors anyway."""
        timings: dict[str, float] = {}
        for label, engine in (("tts", self.tts), ("stt", self.stt)):
            if not isinstance(engine, SupportsWarmUp):
                continue
            started = time.perf_counter()
            try:
                await engine.warm_up()
            except Exception:
                log.exception("%s warm-up failed (%s)", label, type(engine).__name__)
                continue
            timings[label] = time.perf_counter() - started
        return timings


# ------------------------------------------------------------------ single engines
def build_vad_factory(settings: VADSettings) -> VADFactory:
    if settings.provider == "fake":
        from sdr_agent.engines.fakes import FakeVAD

        return FakeVAD
    if settings.provider == "webrtc":
        from sdr_agent.engines.local.vad import WebRtcVAD

        aggressiveness = settings.webrtc_aggressiveness

        def webrtc() -> VoiceActivityDetector:
            return WebRtcVAD(8000, aggressiveness)

        return webrtc
    from sdr_agent.engines.local.vad import SileroVAD

    gate_rms = settings.silero_gate_rms

    def silero() -> VoiceActivityDetector:
        return SileroVAD(8000, gate_rms=gate_rms)

    return silero


def build_stt(settings: STTSettings, vad: VADSettings | None = None) -> SpeechToText:
    vad = vad or VADSettings()
    if settings.provider == "fake":
        from sdr_agent.engines.fakes import FakeSTT

        return FakeSTT()
    whisper = _whisper(settings, vad)
    if settings.provider == "whisper":
        return whisper
    # Cloud adapters and fallbacks are imported only when settings name them (they pull in HTTP clients).
    from sdr_agent.engines.cloud.registry import cloud_stt
    from sdr_agent.engines.fallback import FallbackSTT

    primary = cloud_stt(settings)
    if settings.fallback == "whisper":
        return FallbackSTT([primary, whisper], first_result_timeout_s=settings.first_result_timeout_s)
    return primary


def _whisper(settings: STTSettings, vad: VADSettings) -> SpeechToText:
    from sdr_agent.engines.local.whisper_stt import WhisperSTT

    return WhisperSTT(settings, build_vad_factory(vad), vad.threshold)


def build_tts(settings: TTSSettings) -> TextToSpeech:
    if settings.provider == "fake":
        from sdr_agent.engines.fakes import FakeTTS

        return FakeTTS()
    from sdr_agent.engines.local.hibari_tts import HibariTTS

    if settings.provider == "hibari":
        return HibariTTS(settings)
    from sdr_agent.engines.cloud.registry import cloud_tts
    from sdr_agent.engines.fallback import FallbackTTS

    primary = cloud_tts(settings)
    if settings.fallback == "hibari":
        timeout = settings.first_audio_timeout_s
        return FallbackTTS([primary, HibariTTS(settings)], first_result_timeout_s=timeout)
    return primary


def build_llm(settings: LLMSettings) -> LanguageModel:
    if settings.provider == "fake":
        from sdr_agent.engines.fakes import FakeLLM

        return FakeLLM()
    if settings.provider == "grounded":
        return grounded_responder()
    if settings.provider == "llamacpp":
        from sdr_agent.engines.local.llamacpp_llm import LlamaCppLLM

        primary: LanguageModel = LlamaCppLLM(settings)
    else:
        from sdr_agent.engines.cloud.registry import cloud_llm

        primary = cloud_llm(settings)
    if settings.fallback == "grounded":
        from sdr_agent.engines.fallback import FallbackLLM

        timeout = settings.first_token_timeout_s
        return FallbackLLM([primary, grounded_responder()], first_result_timeout_s=timeout)
    return primary


def grounded_responder() -> LanguageModel:
    """The offline default: answers only from retrieved knowledge and the SDR playbook."""
    from sdr_agent.engines.local.grounded import GroundedResponder

    return GroundedResponder()


def build_engines(settings: Settings, embedder: Embedder | None = None) -> EngineSet:
    """Engines chosen by ``settings.stt/tts/llm/vad.provider``. The embedder belongs to the knowledge layer,
    which passes its own (``knowledge.embedder.shared_embedder()``) if the set should carry one."""
    return EngineSet(
        stt=build_stt(settings.stt, settings.vad),
        tts=build_tts(settings.tts),
        llm=build_llm(settings.llm),
        vad_factory=build_vad_factory(settings.vad),
        embedder=embedder,
    )


# ------------------------------------------------------------------ per agent
class VoiceOverrideTTS:
    """A TTS whose default voice is the agent's ``tts.voice_id``; an explicit ``voice`` still wins."""

    def __init__(self, inner: TextToSpeech, voice: str) -> None:
        self.inner = inner
        self.voice = voice
        self.name = inner.name

    def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        return self.inner.synthesize(text, voice or self.voice)

    async def warm_up(self) -> None:
        await self.inner.warm_up()


@dataclass(frozen=True)
class AgentEngineChoice:
    """The engine settings one agent asks for, on top of the process settings."""

    stt: STTSettings
    tts: TTSSettings
    llm: LLMSettings
    voice: str | None

    @classmethod
    def from_config(cls, settings: Settings, conversation_config: dict[str, Any]) -> AgentEngineChoice:
        config = conversation_config if isinstance(conversation_config, dict) else {}
        asr, tts_cfg = _section(config, "asr"), _section(config, "tts")
        prompt = _section(_section(config, "agent"), "prompt")

        stt = settings.stt
        asr_provider = _text(asr.get("provider"))
        if asr_provider in AGENT_STT_PROVIDERS:
            stt = stt.model_copy(update={"provider": asr_provider})

        tts = settings.tts
        model_id = _text(tts_cfg.get("model_id"))
        if model_id in AGENT_TTS_PROVIDERS:
            tts = tts.model_copy(update={"provider": model_id})
        elif model_id.startswith("aura"):
            tts = tts.model_copy(update={"provider": "deepgram", "deepgram_model": model_id})
        raw_voice = tts_cfg.get("voice_id")
        voice = raw_voice.strip() if isinstance(raw_voice, str) and raw_voice.strip() else None

        return cls(stt=stt, tts=tts, llm=_llm_choice(settings.llm, prompt), voice=voice)

    def llm_key(self) -> str:
        if self.llm.provider not in GENERATIVE_LLMS:
            return self.llm.provider  # temperature and model mean nothing to fakes and the grounded responder
        return self.llm.model_dump_json()


def _llm_choice(base: LLMSettings, prompt: dict[str, Any]) -> LLMSettings:
    update: dict[str, Any] = {}
    requested = _text(prompt.get("llm"))
    provider, _, model = requested.partition(":")
    if provider in AGENT_LLM_PROVIDERS:
        update["provider"] = provider
        if model:
            update["model"] = model
    elif requested not in IGNORED_LLM_NAMES and base.provider in ("ollama", "openai"):
        update["model"] = requested  # a bare model name for the configured server
    temperature = prompt.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool) and 0 <= temperature <= 2:
        update["temperature"] = float(temperature)
    max_tokens = prompt.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        update["max_tokens"] = max_tokens  # ElevenLabs' -1 means "no limit": keep ours
    return base.model_copy(update=update) if update else base


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def engines_for_agent(base: EngineSet, settings: Settings, conversation_config: dict[str, Any]) -> EngineSet:
    """``base`` with the engines this agent chooses differently; variants are cached on ``base``.

    Understood (others are ignored, so any ElevenLabs config is accepted): ``asr.provider`` (whisper,
    deepgram); ``tts.model_id`` (hibari, deepgram, or a Deepgram ``aura-*`` model);
    ``tts.voice_id``; ``agent.prompt.llm`` (a provider, ``provider:model``, or a bare model name for a
    configured Ollama/OpenAI server); ``agent.prompt.temperature`` and ``max_tokens``.
    """
    choice = AgentEngineChoice.from_config(settings, conversation_config)
    base_choice = AgentEngineChoice(settings.stt, settings.tts, settings.llm, None)
    key = json.dumps(
        [choice.stt.model_dump_json(), choice.tts.model_dump_json(), choice.llm_key(), choice.voice]
    )
    cached = base.variants.get(key)
    if cached is not None:
        return cached
    stt = base.stt if choice.stt == base_choice.stt else build_stt(choice.stt, settings.vad)
    tts = base.tts if choice.tts == base_choice.tts else build_tts(choice.tts)
    llm = base.llm if choice.llm_key() == base_choice.llm_key() else build_llm(choice.llm)
    if choice.voice and choice.voice != settings.tts.voice:
        tts = VoiceOverrideTTS(tts, choice.voice)
    variant = EngineSet(stt, tts, llm, base.vad_factory, base.embedder)
    if stt is base.stt and tts is base.tts and llm is base.llm:
        variant = base
    base.variants[key] = variant
    return variant
