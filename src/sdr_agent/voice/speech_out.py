"""TTS output → telephony μ-law 8 kHz, and DTMF tones for play_keypad_touch_tone."""

from __future__ import annotations

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw, silence_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import StreamResampler
from sdr_agent.engines.base import SynthesizedAudio


class TelephonyEncoder:
    """Per-sentence stateful conversion (the resampler keeps its filter state across chunks)."""

    def __init__(self) -> None:
        self._resampler: StreamResampler | None = None

    def encode(self, chunk: SynthesizedAudio) -> bytes:
        if chunk.encoding == "mulaw":
            if chunk.sample_rate == 8000:
                return chunk.data
            pcm = ulaw_to_pcm(chunk.data)
        else:
            pcm = np.frombuffer(chunk.data, dtype="<i2").astype(np.int16)
        if chunk.sample_rate != 8000:
            if self._resampler is None or self._resampler.from_rate != chunk.sample_rate:
                self._resampler = StreamResampler(chunk.sample_rate, 8000)
            pcm = self._resampler.process(pcm)
        return pcm_to_ulaw(pcm)

    def flush(self) -> bytes:
        if self._resampler is None:
            return b""
        tail = self._resampler.process(np.zeros(0, dtype=np.int16), last=True)
        self._resampler = None
        return pcm_to_ulaw(tail) if len(tail) else b""


_DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


def dtmf_ulaw(digits: str, tone_ms: int = 120, gap_ms: int = 80) -> bytes:
    """In-band DTMF (the stream stays open, unlike a TwiML <Play digits> redirect)."""
    out = bytearray()
    n = int(8000 * tone_ms / 1000)
    t = np.arange(n) / 8000.0
    for digit in digits:
        pair = _DTMF.get(digit.upper())
        if pair is None:
            continue
        tone = 0.35 * (np.sin(2 * np.pi * pair[0] * t) + np.sin(2 * np.pi * pair[1] * t))
        out += pcm_to_ulaw((tone * 32767 * 0.5).astype(np.int16))
        out += silence_ulaw(int(8000 * gap_ms / 1000))
    return bytes(out)
