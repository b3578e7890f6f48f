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


class PauseLimiter:
    """Caps the silences a TTS puts around and inside a sentence, as μ-law 8 kHz streams through.

    hibari pads every sentence with ~0.29 s of silence before and ~0.5 s after, and pauses ~0.48 s between
    the clauses of a long sentence: two sentences back to back were ~0.8 s apart — long enough for a
    caller to take the turn and lose the rest of the answer. Quiet frames are held back; the next voiced
    frame releases at most ``max_inner_ms`` of them (``max_lead_ms`` before the first voice of the
    sentence), and the end of the sentence keeps at most ``max_tail_ms``. Sentence to sentence that is
    ~0.15 s, a natural breath. Nothing voiced is ever dropped.
    """

    FRAME = 160  # 20 ms at 8 kHz

    def __init__(self, *, quiet_rms: float = 150.0, max_lead_ms: int = 40, max_inner_ms: int = 200,
                 max_tail_ms: int = 120) -> None:
        self._quiet_rms = quiet_rms
        self._lead = max_lead_ms // 20
        self._inner = max_inner_ms // 20
        self._tail = max_tail_ms // 20
        self._pending = b""  # less than one frame, waiting for the rest
        self._held: list[bytes] = []  # quiet frames since the last voiced one
        self._voiced_yet = False

    def feed(self, ulaw: bytes) -> bytes:
        data = self._pending + ulaw
        usable = len(data) - len(data) % self.FRAME
        self._pending = data[usable:]
        out = bytearray()
        for start in range(0, usable, self.FRAME):
            frame = data[start : start + self.FRAME]
            pcm = ulaw_to_pcm(frame).astype(np.float64)
            if float(np.sqrt(np.mean(pcm * pcm))) < self._quiet_rms:
                self._held.append(frame)
                continue
            keep = self._inner if self._voiced_yet else self._lead
            out += b"".join(self._held[len(self._held) - keep :] if keep else [])
            self._held.clear()
            self._voiced_yet = True
            out += frame
        return bytes(out)

    def flush(self) -> bytes:
        tail = self._held[: self._tail] if self._voiced_yet else []
        self._held.clear()
        rest, self._pending = self._pending, b""
        return b"".join(tail) + (rest if self._voiced_yet else b"")
