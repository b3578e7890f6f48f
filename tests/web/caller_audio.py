"""Caller speech for the web tests, never in the agent's own voice: hibari's only bundled voice, faster and
tape-shifted down (pitch and tempo ×0.86), so the recogniser hears a different speaker than the agent."""

from __future__ import annotations

import numpy as np

from sdr_agent.audio.resample import resample
from sdr_agent.engines.base import PCM16
from sdr_agent.settings import TTSSettings

PITCH = 0.86
SPEED = 1.1


async def caller_speech(text: str, rate: int = 16000) -> PCM16:
    from sdr_agent.engines.local.hibari_tts import HibariTTS

    tts = HibariTTS(TTSSettings(speed=SPEED))
    chunks = [chunk async for chunk in tts.synthesize(text)]
    pcm = np.frombuffer(b"".join(c.data for c in chunks), dtype="<i2").astype(np.int16)
    # Declaring the audio faster than it is lowers pitch and tempo together, like a slowed tape.
    return resample(pcm, round(chunks[0].sample_rate * PITCH), rate)
