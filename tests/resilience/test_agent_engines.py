"""An API client cannot put a live agent on a fake or stand-in engine: only process settings or tests can."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from sdr_agent.engines.factory import EngineSet, engines_for_agent
from sdr_agent.engines.fakes import FakeLLM, FakeSTT, FakeTTS, FakeVAD
from sdr_agent.services import Services
from sdr_agent.settings import LLMSettings, STTSettings, TTSSettings

pytestmark = pytest.mark.postgres


class Engine:
    """A production engine stand-in for this test: anything that is not a fake."""


async def test_fake_engines_named_in_an_agent_config_are_ignored(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    created = await client.post("/v1/convai/agents/create", json={"name": "Sneaky", "conversation_config": {
        "asr": {"provider": "fake"}, "tts": {"model_id": "fake"},
        "agent": {"first_message": "Hi.", "prompt": {"prompt": "x", "llm": "fake"}},
    }})
    assert created.status_code == 200
    stored = (await client.get(f"/v1/convai/agents/{created.json()['agent_id']}")).json()
    services: Services = app.state.services
    # The process runs real engines (deepgram STT/TTS, grounded LLM); the agent asks for the fakes.
    settings = services.settings.model_copy(update={
        "stt": STTSettings(provider="deepgram", fallback="none"),
        "tts": TTSSettings(provider="deepgram", fallback="none"),
        "llm": LLMSettings(provider="grounded", fallback="none"),
    })
    base = EngineSet(stt=Engine(), tts=Engine(), llm=Engine(), vad_factory=FakeVAD, embedder=None)  # type: ignore[arg-type]
    chosen = engines_for_agent(base, settings, stored["conversation_config"])
    assert chosen is base
    assert not isinstance(chosen.stt, FakeSTT) and not isinstance(chosen.tts, FakeTTS)
    assert not isinstance(chosen.llm, FakeLLM)

    # Settings may still choose fakes (tests do): the same config then runs on them.
    faked = settings.model_copy(update={"llm": LLMSettings(provider="fake", fallback="none")})
    assert isinstance(engines_for_agent(EngineSet(
        stt=Engine(), tts=Engine(), llm=FakeLLM(), vad_factory=FakeVAD, embedder=None,  # type: ignore[arg-type]
    ), faked, stored["conversation_config"]).llm, FakeLLM)
