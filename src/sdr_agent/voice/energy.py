"""The seed's energy interruption detector, exactly as specified.

RMS per frame; an adaptive noise baseline updated only while nobody speaks; threshold =
max(baseline × factor, min_energy); at least ``min_high_frames`` high-energy frames and
``min_speech_ms`` of sustained energy; ``debounce_ms`` between triggers. Times are audio times in
milliseconds (frame counts), so the detector is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnergyConfig:
    factor: float = 2.8
    min_energy: float = 800.0
    min_high_frames: int = 2
    min_speech_ms: float = 100.0
    debounce_ms: float = 300.0
    baseline_alpha: float = 0.05
    initial_baseline: float = 100.0


class EnergyDetector:
    def __init__(self, config: EnergyConfig | None = None) -> None:
        self.config = config or EnergyConfig()
        self.baseline = self.config.initial_baseline
        self.high_frames = 0
        self.speech_start_ms: float | None = None
        self.last_trigger_ms: float | None = None

    @property
    def threshold(self) -> float:
        return max(self.baseline * self.config.factor, self.config.min_energy)

    @property
    def in_speech(self) -> bool:
        return self.speech_start_ms is not None

    def process(self, energy: float, frame_start_ms: float, frame_ms: float = 20.0) -> bool:
        """Feed one frame's RMS. True when an interruption triggers on this frame."""
        if energy > self.threshold:
            if self.speech_start_ms is None:
                self.speech_start_ms = frame_start_ms
            self.high_frames += 1
            if self.high_frames < self.config.min_high_frames:
                return False
            duration = frame_start_ms + frame_ms - self.speech_start_ms
            if duration < self.config.min_speech_ms:
                return False
            if self.last_trigger_ms is not None and (
                frame_start_ms - self.last_trigger_ms < self.config.debounce_ms
            ):
                return False
            self.last_trigger_ms = frame_start_ms
            return True
        self.high_frames = 0
        self.speech_start_ms = None
        alpha = self.config.baseline_alpha
        self.baseline = (1 - alpha) * self.baseline + alpha * energy
        return False

    def reset_run(self) -> None:
        self.high_frames = 0
        self.speech_start_ms = None
