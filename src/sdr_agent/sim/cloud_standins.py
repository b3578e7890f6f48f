"""All three cloud stand-ins at once, and the settings that point the engines at them.

Usage::

    async with CloudStandIns(utterances=["I want a demo"], replies=["Sure, when suits you?"]) as cloud:
        settings = cloud.apply(settings)          # or cloud.settings_overrides() / cloud.env()
        cloud.deepgram.faults = FaultPlan(http_status=500, times=1)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal

from sdr_agent.settings import LLMSettings, Settings, STTSettings, TTSSettings
from sdr_agent.sim.deepgram import DeepgramStandIn
from sdr_agent.sim.llm_script import ScriptedReply
from sdr_agent.sim.ollama import OllamaStandIn
from sdr_agent.sim.openai_compat import OpenAIStandIn

OLLAMA_MODEL = "llama3.2"
OPENAI_MODEL = "stand-in-model"


class CloudStandIns:
    def __init__(
        self,
        *,
        utterances: Iterable[str] = (),
        replies: Iterable[ScriptedReply | str] = (),
        llm: Literal["ollama", "openai"] = "ollama",
        idle_timeout_s: float = 10.0,
    ) -> None:
        replies = list(replies)
        self.llm: Literal["ollama", "openai"] = llm
        self.deepgram = DeepgramStandIn(utterances, idle_timeout_s=idle_timeout_s)
        self.ollama = OllamaStandIn(replies, models=[f"{OLLAMA_MODEL}:latest"])
        self.openai = OpenAIStandIn(replies, models=[OPENAI_MODEL])
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> CloudStandIns:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.deepgram)
            await stack.enter_async_context(self.ollama)
            await stack.enter_async_context(self.openai)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def settings_overrides(self) -> dict[str, dict[str, Any]]:
        """Plain values per settings section (``stt``, ``tts``, ``llm``), secrets as strings."""
        deepgram = {"deepgram_url": self.deepgram.ws_url, "deepgram_api_key": self.deepgram.api_key}
        llm: dict[str, Any]
        if self.llm == "ollama":
            llm = {"provider": "ollama", "base_url": self.ollama.base_url, "model": OLLAMA_MODEL}
        else:
            llm = {
                "provider": "openai",
                "base_url": self.openai.base_url,
                "model": OPENAI_MODEL,
                "api_key": self.openai.api_key,
            }
        return {
            "stt": {"provider": "deepgram", **deepgram},
            "tts": {"provider": "deepgram", **deepgram},
            "llm": llm,
        }

    def env(self) -> dict[str, str]:
        """The same as ``SDR_*`` environment variables (for a server in another process)."""
        return {
            f"SDR_{section.upper()}__{key.upper()}": str(value)
            for section, values in self.settings_overrides().items()
            for key, value in values.items()
            if value is not None
        }

    def apply(self, settings: Settings) -> Settings:
        """A copy of ``settings`` with STT, TTS and LLM pointed at the stand-ins (validated)."""
        overrides = self.settings_overrides()
        return settings.model_copy(
            update={
                "stt": STTSettings.model_validate({**settings.stt.model_dump(), **overrides["stt"]}),
                "tts": TTSSettings.model_validate({**settings.tts.model_dump(), **overrides["tts"]}),
                "llm": LLMSettings.model_validate({**settings.llm.model_dump(), **overrides["llm"]}),
            }
        )
