"""Fallback adapters: one engine of each kind made of several, switching on failure and back on recovery.

Every switch is logged, kept in ``switches``, passed to ``on_switch`` and to the listener of the call it
happened in (``with switches_reported_to(record): ...`` in the call's task; the engines themselves are shared
by all calls). Defaults of ``first_result_timeout_s`` match the settings defaults; pass
``settings.stt.first_result_timeout_s`` / ``tts.first_audio_timeout_s`` / ``llm.first_token_timeout_s``.
"""

from __future__ import annotations

from sdr_agent.engines.fallback.llm import FallbackLLM
from sdr_agent.engines.fallback.roster import EngineSwitch, switches_reported_to
from sdr_agent.engines.fallback.stt import FallbackSTT, FallbackSTTStream
from sdr_agent.engines.fallback.tts import FallbackTTS

__all__ = [
    "EngineSwitch",
    "FallbackLLM",
    "FallbackSTT",
    "FallbackSTTStream",
    "FallbackTTS",
    "switches_reported_to",
]
