"""G.711 μ-law ↔ PCM16 with numpy lookup tables (``audioop`` is gone in Python 3.13)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

ULAW_SILENCE = 0xFF
_BIAS = 0x84
_CLIP = 32635


def _build_decode_table() -> NDArray[np.int16]:
    codes = (~np.arange(256, dtype=np.int32)) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _build_encode_table() -> NDArray[np.uint8]:
    samples = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    # exponent = index of the highest set bit of magnitude, minus 7 (bit 14 → 7 … bit 7 → 0)
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    table: NDArray[np.uint8] = ((~(sign | (exponent << 4) | mantissa)) & 0xFF).astype(np.uint8)
    return table


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def ulaw_to_pcm(data: bytes) -> NDArray[np.int16]:
    """Decode raw μ-law bytes to PCM16 samples."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm_to_ulaw(pcm: NDArray[np.int16]) -> bytes:
    """Encode PCM16 samples to raw μ-law bytes."""
    return bytes(_ENCODE[pcm.astype(np.int32) + 32768].tobytes())


def silence_ulaw(n_bytes: int) -> bytes:
    return bytes([ULAW_SILENCE]) * n_bytes
