"""Fallback adapters: one engine of each kind made of several, switching on failure and back on recovery.

Every switch is logged and reported through ``on_switch`` (the voice session records it in the
conversation metadata); ``switches`` keeps the list.
"""

from __future__ import annotations

from sdr_agent.engines.fallback.llm import FallbackLLM
from sdr_agent.engines.fallback.roster import EngineSwitch
from sdr_agent.engines.fallback.stt import FallbackSTT, FallbackSTTStream
from sdr_agent.engines.fallback.tts import FallbackTTS

__all__ = ["EngineSwitch", "FallbackLLM", "FallbackSTT", "FallbackSTTStream", "FallbackTTS"]
