"""Caller speech segmentation from VAD probabilities, with hysteresis and a pre-roll buffer."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from sdr_agent.engines.base import AudioFrame


class SegmentEvent(Enum):
    NONE = "none"
    SPEECH_START = "speech_start"
    SPEECH = "speech"
    SILENCE = "silence"


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    start_threshold: float = 0.5
    stop_threshold: float = 0.35
    start_frames: int = 2
    # Silero keeps scoring speech for ~150-250 ms after the voice stops; a frame this quiet is silence
    # whatever the VAD says, so end-of-speech is found on time.
    quiet_rms: float = 200.0
    preroll_frames: int = 15  # 300 ms kept so the first syllable reaches the recogniser


class SpeechSegmenter:
    def __init__(self, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        self.in_speech = False
        self.silence_ms = 0.0
        self.speech_ms = 0.0
        self._above = 0
        self._preroll: deque[AudioFrame] = deque(maxlen=self.config.preroll_frames)

    def process(self, frame: AudioFrame, vad_prob: float, energy: float | None = None) -> SegmentEvent:
        if not self.in_speech:
            self._preroll.append(frame)
            self._above = self._above + 1 if vad_prob >= self.config.start_threshold else 0
            if self._above >= self.config.start_frames:
                self.in_speech = True
                self.silence_ms = 0.0
                self.speech_ms = frame.duration_ms * self._above
                return SegmentEvent.SPEECH_START
            self.silence_ms += frame.duration_ms
            return SegmentEvent.NONE
        quiet = energy is not None and energy < self.config.quiet_rms
        if vad_prob < self.config.stop_threshold or quiet:
            self.silence_ms += frame.duration_ms
            return SegmentEvent.SILENCE
        self.silence_ms = 0.0
        self.speech_ms += frame.duration_ms
        return SegmentEvent.SPEECH

    def take_preroll(self) -> list[AudioFrame]:
        frames = list(self._preroll)
        self._preroll.clear()
        return frames

    def end_segment(self) -> None:
        self.in_speech = False
        self._above = 0
        self.speech_ms = 0.0
