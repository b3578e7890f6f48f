"""Stand-ins and engine settings for the cloud engine tests (all on 127.0.0.1, short timeouts)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from sdr_agent.settings import LLMSettings, STTSettings, TTSSettings
from sdr_agent.sim.deepgram import DeepgramStandIn
from sdr_agent.sim.ollama import OllamaStandIn
from sdr_agent.sim.openai_compat import OpenAIStandIn


@pytest.fixture
async def deepgram() -> AsyncIterator[DeepgramStandIn]:
    async with DeepgramStandIn(idle_timeout_s=10.0) as standin:
        yield standin


@pytest.fixture
def stt_settings(deepgram: DeepgramStandIn) -> STTSettings:
    return STTSettings(
        provider="deepgram",
        fallback="none",
        deepgram_url=deepgram.ws_url,
        deepgram_api_key=SecretStr(deepgram.api_key),
        deepgram_finalize_timeout_s=0.5,
        deepgram_stall_timeout_s=2.0,
        first_result_timeout_s=1.0,
    )


@pytest.fixture
def tts_settings(deepgram: DeepgramStandIn) -> TTSSettings:
    return TTSSettings(
        provider="deepgram",
        fallback="none",
        deepgram_url=deepgram.ws_url,
        deepgram_api_key=SecretStr(deepgram.api_key),
        deepgram_idle_timeout_s=2.0,
        first_audio_timeout_s=0.5,
    )


@pytest.fixture
async def ollama() -> AsyncIterator[OllamaStandIn]:
    async with OllamaStandIn() as standin:
        yield standin


@pytest.fixture
async def openai_server() -> AsyncIterator[OpenAIStandIn]:
    async with OpenAIStandIn(models=["stand-in-model"]) as standin:
        yield standin


@pytest.fixture
def ollama_settings(ollama: OllamaStandIn) -> LLMSettings:
    return LLMSettings(
        provider="ollama",
        fallback="none",
        base_url=ollama.base_url,
        model="llama3.2",
        request_timeout_s=5.0,
        first_token_timeout_s=0.5,
    )


@pytest.fixture
def openai_settings(openai_server: OpenAIStandIn) -> LLMSettings:
    return LLMSettings(
        provider="openai",
        fallback="none",
        base_url=openai_server.base_url,
        api_key=SecretStr(openai_server.api_key or ""),
        model="stand-in-model",
        request_timeout_s=5.0,
        first_token_timeout_s=0.5,
    )
