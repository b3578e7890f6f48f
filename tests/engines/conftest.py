"""Engine-test fixtures: real speech made once per session by the offline TTS."""

from __future__ import annotations

import pytest
from engine_audio import UTTERANCE, synthesize_8k

from sdr_agent.engines.base import PCM16

_speech_cache: dict[str, PCM16] = {}


@pytest.fixture
async def speech_8k() -> PCM16:
    """UTTERANCE spoken by HibariTTS, through the telephone path (synthesised once per session)."""
    if UTTERANCE not in _speech_cache:
        _speech_cache[UTTERANCE] = await synthesize_8k(UTTERANCE)
    return _speech_cache[UTTERANCE]
