"""Echo guard: remove the agent's own audio leaking back into the inbound track.

A one-tap echo canceller. The agent audio is kept on a time line of when it plays at the caller; for
each inbound frame the best-matching delay (0–``max_delay_ms``) and gain are found by normalised
cross-correlation and the scaled reference is subtracted. A leak is a delayed, attenuated copy, so it
cancels almost entirely; the caller's own speech does not correlate with it and survives.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_RATE = 8000


class EchoCanceller:
    def __init__(self, *, max_delay_ms: float = 450.0, buffer_s: float = 2.0, min_gain: float = 0.01,
                 max_gain: float = 0.9, min_explained: float = 0.5, confident_share: float = 0.8) -> None:
        self._max_delay = int(max_delay_ms * _RATE / 1000)
        self._size = int(buffer_s * _RATE)
        self._ref = np.zeros(self._size, dtype=np.float32)
        self._written_until: int | None = None  # absolute sample index
        self._origin: float | None = None
        self._min_gain = min_gain
        self._max_gain = max_gain
        self._min_explained = min_explained
        self._confident_share = confident_share
        self._tracked_lag: int | None = None
        self._lag_tolerance = 16  # 2 ms of jitter in the echo path
        self.last_gain = 0.0
        self.last_delay_ms = 0.0

    def _index(self, t: float) -> int:
        if self._origin is None:
            self._origin = t
        return round((t - self._origin) * _RATE)

    def add_reference(self, pcm: NDArray[np.int16], play_start: float) -> None:
        """Agent audio that starts playing at ``play_start`` (monotonic seconds)."""
        start = self._index(play_start)
        if self._written_until is not None and start > self._written_until:
            self._zero(self._written_until, start)
        idx = (start + np.arange(len(pcm))) % self._size
        self._ref[idx] = pcm.astype(np.float32)
        end = start + len(pcm)
        self._written_until = end if self._written_until is None else max(self._written_until, end)

    def _zero(self, start: int, end: int) -> None:
        if end - start >= self._size:
            self._ref[:] = 0.0
            return
        self._ref[np.arange(start, end) % self._size] = 0.0

    def _window(self, start: int, end: int) -> NDArray[np.float32]:
        if self._written_until is None:
            return np.zeros(end - start, dtype=np.float32)
        positions = np.arange(start, end)
        out = self._ref[positions % self._size]  # fancy indexing: already a copy
        # Zero what was never written (beyond) and what the ring has overwritten since (too old).
        out[(positions >= self._written_until) | (positions < self._written_until - self._size)] = 0.0
        return out

    def active(self, now: float) -> bool:
        """Is there agent audio recent enough to leak into this frame?"""
        if self._written_until is None or self._origin is None:
            return False
        return self._index(now) - self._max_delay < self._written_until

    def process(self, frame: NDArray[np.int16], received_at: float) -> NDArray[np.int16]:
        """Return the frame with the agent's echo removed (unchanged when there is no echo)."""
        if not self.active(received_at):
            return frame
        x = frame.astype(np.float32)
        x_energy = float(np.dot(x, x))
        if x_energy <= 1.0:
            return frame  # a silent frame has no echo to remove: skip the reference gather and correlation
        n = len(frame)
        end = self._index(received_at)
        start = end - n - self._max_delay
        window = self._window(start, end + n)
        corr = np.correlate(window, x, mode="valid")
        squares = np.concatenate(([0.0], np.cumsum(window.astype(np.float64) ** 2)))
        seg_energy = squares[n:] - squares[:-n]
        seg_energy = np.maximum(seg_energy, 1e-6)
        explained = (corr.astype(np.float64) ** 2) / seg_energy
        best = int(np.argmax(explained))
        share = float(explained[best]) / x_energy
        lag = len(window) - n - best - n
        tracked = self._tracked_lag
        if tracked is not None and abs(lag - tracked) > self._lag_tolerance and share < self._confident_share:
            # Unrelated speech correlates by chance at some lag; a real echo path keeps its delay.
            tracked_best = len(window) - 2 * n - tracked
            if not 0 <= tracked_best < len(explained):
                return frame
            best, lag = tracked_best, tracked
            share = float(explained[best]) / x_energy
        if share < self._min_explained:
            return frame
        if share >= self._confident_share:
            self._tracked_lag = lag
        gain = float(corr[best] / seg_energy[best])
        if not (self._min_gain <= gain <= self._max_gain):
            return frame
        self.last_gain = gain
        self.last_delay_ms = lag * 1000.0 / _RATE
        residual = x - gain * window[best : best + n]
        return np.clip(residual, -32768, 32767).astype(np.int16)
