"""Telephony framing and speech helpers shared by the engine tests (imported as a plain module)."""

from __future__ import annotations

import re

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import resample
from sdr_agent.engines.base import PCM16, AudioFrame

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
UTTERANCE = "I would like to book a meeting on Tuesday."


def telephone(pcm: PCM16, rate: int) -> PCM16:
    """What a caller's audio looks like after the phone network: 8 kHz, μ-law encoded and decoded."""
    return ulaw_to_pcm(pcm_to_ulaw(resample(pcm, rate, 8000)))


def frames(pcm8k: PCM16) -> list[AudioFrame]:
    out = []
    for start in range(0, len(pcm8k), FRAME_SAMPLES):
        chunk = pcm8k[start : start + FRAME_SAMPLES]
        if len(chunk) < FRAME_SAMPLES:
            chunk = np.concatenate([chunk, np.zeros(FRAME_SAMPLES - len(chunk), dtype=np.int16)])
        out.append(AudioFrame(ulaw=pcm_to_ulaw(chunk), pcm=chunk))
    return out


def silence(ms: int) -> PCM16:
    return np.zeros(8 * ms, dtype=np.int16)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


async def synthesize_8k(text: str) -> PCM16:
    from sdr_agent.engines.local.hibari_tts import HibariTTS

    chunks = [chunk async for chunk in HibariTTS().synthesize(text)]
    pcm = np.frombuffer(b"".join(c.data for c in chunks), dtype="<i2").astype(np.int16)
    return telephone(pcm, chunks[0].sample_rate)
