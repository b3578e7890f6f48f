"""Browser/SDK audio formats ↔ the call loop's 8 kHz μ-law frames.

Formats are ElevenLabs' names: ``pcm_8000`` … ``pcm_48000`` (16-bit little-endian mono) and ``ulaw_8000``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm

PCM_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
DEFAULT_FORMAT = "pcm_16000"
FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law: the call loop's frame


class UnsupportedFormat(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class AudioFormat:
    name: str
    ulaw: bool
    rate: int

    @classmethod
    def parse(cls, name: str | None) -> AudioFormat:
        value = (name or DEFAULT_FORMAT).strip().lower()
        if value == "ulaw_8000":
            return cls(value, True, 8000)
        prefix, _, rate = value.partition("_")
        if prefix == "pcm" and rate.isdigit() and int(rate) in PCM_RATES:
            return cls(value, False, int(rate))
        rates = "|".join(map(str, PCM_RATES))
        raise UnsupportedFormat(f"unsupported audio format {name!r}; use ulaw_8000 or pcm_<{rates}>")



class StreamConverter:
    """One direction of one call's audio, resampled as a stream (no clicks at chunk boundaries)."""

    def __init__(self, fmt: AudioFormat, *, to_call: bool) -> None:
        self._fmt = fmt
        self._to_call = to_call
        self._stream: soxr.ResampleStream | None = None
        if not fmt.ulaw and fmt.rate != 8000:
            rates = (fmt.rate, 8000) if to_call else (8000, fmt.rate)
            self._stream = soxr.ResampleStream(rates[0], rates[1], 1, dtype="int16", quality="HQ")
        self._odd = b""

    def convert(self, data: bytes) -> bytes:
        if self._to_call:
            return self._client_to_ulaw(data)
        return self._ulaw_to_client(data)

    def _client_to_ulaw(self, data: bytes) -> bytes:
        if self._fmt.ulaw:
            return data
        data = self._odd + data
        cut = len(data) - len(data) % 2  # a sample split across two chunks waits for its second byte
        data, self._odd = data[:cut], data[cut:]
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        if self._stream is not None:
            pcm = np.asarray(self._stream.resample_chunk(pcm), dtype=np.int16)
        return pcm_to_ulaw(pcm)

    def _ulaw_to_client(self, ulaw: bytes) -> bytes:
        if self._fmt.ulaw:
            return ulaw
        pcm = ulaw_to_pcm(ulaw)
        if self._stream is not None:
            pcm = np.asarray(self._stream.resample_chunk(pcm), dtype=np.int16)
        return pcm.astype("<i2").tobytes()
