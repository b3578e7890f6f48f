"""Sample-rate conversion with soxr (band-limited, so 24k→8k does not alias)."""

from __future__ import annotations

import numpy as np
import soxr
from numpy.typing import NDArray


def resample(pcm: NDArray[np.int16], from_rate: int, to_rate: int) -> NDArray[np.int16]:
    """Resample a whole buffer in one go (sentences, utterances)."""
    if from_rate == to_rate or len(pcm) == 0:
        return pcm
    out = soxr.resample(pcm.astype(np.float32) / 32768.0, from_rate, to_rate, quality="HQ")
    return float_to_pcm(np.asarray(out, dtype=np.float32))


def float_to_pcm(samples: NDArray[np.float32]) -> NDArray[np.int16]:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def pcm_to_float(pcm: NDArray[np.int16]) -> NDArray[np.float32]:
    return pcm.astype(np.float32) / 32768.0


class StreamResampler:
    """Keeps filter state between chunks; output lengths vary per chunk, never assume exact sizes."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")
            if from_rate != to_rate
            else None
        )

    def process(self, pcm: NDArray[np.int16], last: bool = False) -> NDArray[np.int16]:
        if self._stream is None:
            return pcm
        out = self._stream.resample_chunk(pcm_to_float(pcm), last=last)
        return float_to_pcm(np.asarray(out, dtype=np.float32))


def rms(pcm: NDArray[np.int16]) -> float:
    if len(pcm) == 0:
        return 0.0
    as_float = pcm.astype(np.float64)
    # np.dot, not np.mean(x * x): the same sum without a temporary or numpy's reduction set-up, which cost
    # more than the arithmetic on a 160-sample frame (this runs several times per frame per call).
    return float(np.sqrt(np.dot(as_float, as_float) / len(as_float)))
