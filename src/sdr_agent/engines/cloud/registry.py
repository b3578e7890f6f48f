"""Builds the cloud engines named in settings; ``engines/factory.py`` imports these lazily."""

from __future__ import annotations

from sdr_agent.engines.base import EngineError, LanguageModel, SpeechToText, TextToSpeech
from sdr_agent.settings import LLMSettings, STTSettings, TTSSettings


def cloud_stt(settings: STTSettings) -> SpeechToText:
    if settings.provider == "deepgram":
        from sdr_agent.engines.cloud.deepgram_stt import DeepgramSTT

        return DeepgramSTT(settings)
    raise EngineError(f"no cloud speech-to-text engine is called {settings.provider!r}")


def cloud_tts(settings: TTSSettings) -> TextToSpeech:
    if settings.provider == "deepgram":
        from sdr_agent.engines.cloud.deepgram_tts import DeepgramTTS

        return DeepgramTTS(settings)
    raise EngineError(f"no cloud text-to-speech engine is called {settings.provider!r}")


def cloud_llm(settings: LLMSettings) -> LanguageModel:
    if settings.provider == "ollama":
        from sdr_agent.engines.cloud.ollama import OllamaLLM

        return OllamaLLM(settings)
    if settings.provider == "openai":
        from sdr_agent.engines.cloud.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings)
    raise EngineError(f"no cloud language model is called {settings.provider!r}")
