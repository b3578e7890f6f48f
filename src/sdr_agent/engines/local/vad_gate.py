"""An energy gate in front of a neural VAD: the model runs only while the line carries sound.

Most of a phone call is quiet on the caller's side (they listen while the agent talks, pause between turns),
and Silero costs ~0.2 ms per 32 ms window, the largest per-frame cost of a call. The gate keeps the model
asleep while every frame is below ``open_rms`` (−58 dBFS by default: line hiss, digital silence) and
answers 0.0 for those frames. The first frame at or above it opens the gate: the model is reset and fed the
last ``preroll_frames`` frames before the onset (window boundaries where an always-on model had them), then
the onset frame, so it scores the onset with the recent history an always-on model would have had. Measured
on synthesised speech at three levels, with and without line hiss (``bench/vad_gate_onsets.py``, 56 onsets):
30 on the same frame, 21 earlier, 5 later (by 1-5 frames, only at −10 and −20 dB). The model's recurrent
state remembers the previous utterance for seconds, so no pre-roll makes it bit-identical to a model that
ran through the pause; a fresh one is mostly a little quicker. Barge-in candidates of the layered detector
on the same audio: 182 of 199 on the same frame, 17 earlier, none later. The gate closes again only after
``hang_frames`` quiet frames *and* once the model itself has let go (its probability below ``close_prob``),
so the model's own hangover after a voice stops is still reported as it was.

Every consumer of the probability treats a frame this quiet as silence anyway (the segmenter's quiet floor
is 200 RMS, barge-in needs ≥ 300), so gating changes no decision on a line whose quiet is below
``open_rms``. A line noisier than that keeps the gate open and costs what it cost before.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

import numpy as np

from sdr_agent.engines.base import PCM16

DEFAULT_GATE_RMS = 40.0  # −58 dBFS: below any voice a telephone carries, above μ-law's idle codes
# 500 ms of history replayed into the model at an onset: with less, a freshly reset model scores the onset
# differently from one that ran through the pause (measured: up to 3 frames later with 160 ms).
DEFAULT_PREROLL_FRAMES = 25
DEFAULT_HANG_FRAMES = 10  # 200 ms of quiet before the gate may close
DEFAULT_CLOSE_PROB = 0.15


class GateAction(Enum):
    SKIP = "skip"  # quiet line, gate closed: do not run the model, the probability is 0
    OPEN = "open"  # onset: reset the model, replay ``preroll()``, then score this frame
    SCORE = "score"  # gate open: score this frame


def frame_rms(pcm: PCM16) -> float:
    if len(pcm) == 0:
        return 0.0
    samples = pcm.astype(np.float32)
    return float(np.sqrt(np.dot(samples, samples) / len(samples)))


class SpeechGate:
    """Per-call gate state (one per VAD instance, so one call's line never opens another call's gate)."""

    def __init__(
        self,
        open_rms: float = DEFAULT_GATE_RMS,
        *,
        preroll_frames: int = DEFAULT_PREROLL_FRAMES,
        hang_frames: int = DEFAULT_HANG_FRAMES,
        close_prob: float = DEFAULT_CLOSE_PROB,
    ) -> None:
        if open_rms <= 0 or preroll_frames < 0 or hang_frames < 1 or not 0.0 < close_prob <= 1.0:
            raise ValueError("gate: open_rms > 0, preroll_frames ≥ 0, hang_frames ≥ 1, 0 < close_prob ≤ 1")
        self.open_rms = open_rms
        self.hang_frames = hang_frames
        self.close_prob = close_prob
        self._preroll: deque[PCM16] = deque(maxlen=preroll_frames)
        self.is_open = False
        self._quiet = 0
        self.openings = 0
        self.frames_skipped = 0

    def admit(self, pcm: PCM16) -> GateAction:
        loud = frame_rms(pcm) >= self.open_rms
        if self.is_open:
            self._quiet = 0 if loud else self._quiet + 1
            return GateAction.SCORE
        if loud:
            self.is_open = True
            self._quiet = 0
            self.openings += 1
            return GateAction.OPEN
        if self._preroll.maxlen:
            self._preroll.append(pcm.copy())  # the caller may reuse its buffer
        self.frames_skipped += 1
        return GateAction.SKIP

    def preroll(self) -> list[PCM16]:
        """The quiet frames just before this onset, oldest first (taken once)."""
        frames = list(self._preroll)
        self._preroll.clear()
        return frames

    def scored(self, prob: float) -> None:
        """The model's verdict on the frame just admitted: close once quiet long enough and let go."""
        if self._quiet >= self.hang_frames and prob < self.close_prob:
            self.is_open = False
            self._quiet = 0

    def reset(self) -> None:
        self._preroll.clear()
        self.is_open = False
        self._quiet = 0
