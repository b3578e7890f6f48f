"""Both sides of the call on one time line, written as a stereo WAV (left caller, right agent)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_RATE = 8000
# No recorded part is longer than this (they are single frames), so older parts cannot reach a checkpoint.
_SCAN_BACK = 30 * _RATE


class CallRecorder:
    def __init__(self, max_seconds: float = 3600.0) -> None:
        self._max_samples = int(max_seconds * _RATE)
        self._caller: list[tuple[int, NDArray[np.int16]]] = []
        self._agent: list[tuple[int, NDArray[np.int16]]] = []
        self._origin: float | None = None

    def _position(self, at: float) -> int:
        if self._origin is None:
            self._origin = at
        return max(0, round((at - self._origin) * _RATE))

    def start(self, at: float) -> None:
        self._origin = at

    def add_caller(self, pcm: NDArray[np.int16], at: float) -> None:
        self._caller.append((self._position(at), pcm))

    def add_agent(self, pcm: NDArray[np.int16], play_start: float) -> None:
        self._agent.append((self._position(play_start), pcm))

    def cut_agent_after(self, at: float) -> None:
        """A ``clear`` dropped everything that had not started playing by ``at``."""
        cut = self._position(at)
        kept: list[tuple[int, NDArray[np.int16]]] = []
        for start, pcm in self._agent:
            if start >= cut:
                continue
            kept.append((start, pcm[: max(0, cut - start)]))
        self._agent = kept

    @property
    def has_audio(self) -> bool:
        return bool(self._caller or self._agent)

    def _track(self, parts: list[tuple[int, NDArray[np.int16]]], length: int) -> NDArray[np.int16]:
        track = np.zeros(length, dtype=np.int16)
        for start, pcm in parts:
            end = min(length, start + len(pcm))
            if end > start:
                track[start:end] = pcm[: end - start]
        return track

    def now_sample(self, at: float) -> int:
        """The recording position of clock time ``at`` (nothing before it can change any more)."""
        return self._position(at)

    @property
    def end_sample(self) -> int:
        return min(max((s + len(p) for s, p in self._caller + self._agent), default=0), self._max_samples)

    def render(self, start: int, end: int) -> bytes:
        """Samples [start, end) of both sides as interleaved stereo 16-bit little-endian PCM (a checkpoint).

        Callers only render up to ``now_sample``: a ``clear`` cuts agent audio after its own moment, never
        before, so a rendered stretch is final.
        """
        end = min(end, self._max_samples)
        if end <= start:
            return b""
        stereo = np.zeros((end - start) * 2, dtype=np.int16)
        for channel, parts in ((0, self._caller), (1, self._agent)):
            # Parts are appended in time order (20 ms frames): walk back from the newest and stop well before
            # ``start``, so a checkpoint costs the new audio only, not the whole call so far (event loop).
            for first, pcm in reversed(parts):
                if first + _SCAN_BACK < start:
                    break
                lo, hi = max(first, start), min(first + len(pcm), end)
                if hi > lo:
                    stereo[(lo - start) * 2 + channel:(hi - start) * 2:2] = pcm[lo - first:hi - first]
        return stereo.astype("<i2").tobytes()

    def write_wav(self, path: Path) -> Path:
        ends = [s + len(p) for s, p in self._caller + self._agent]
        length = min(max(ends, default=0), self._max_samples)
        stereo = np.empty(length * 2, dtype=np.int16)
        stereo[0::2] = self._track(self._caller, length)
        stereo[1::2] = self._track(self._agent, length)
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(_RATE)
            wav.writeframes(stereo.astype("<i2").tobytes())
        return path
