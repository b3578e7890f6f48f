"""Layered barge-in detection while the agent is audible.

Layer 1 is the seed's energy detector; layer 2 asks a real VAD to agree, so tones, clicks and hum do
not cut the agent; layer 3 (the first recognised words: backchannel or not) and layer 4's text check
are applied by the session through ``BackchannelClassifier``; layer 4's signal check (echo removal)
happens before frames reach this detector.

Events: ``CANDIDATE`` (stop sending new audio), ``CONFIRMED`` (send ``clear``: speech is sustained),
``ABORTED`` (the candidate faded before confirmation: carry on).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from sdr_agent.voice.energy import EnergyConfig, EnergyDetector


class BargeInEvent(Enum):
    NONE = "none"
    CANDIDATE = "candidate"
    CONFIRMED = "confirmed"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class BargeInConfig:
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    vad_confirm: bool = True
    vad_threshold: float = 0.5
    min_vad_ratio: float = 0.6  # share of the high-energy run the VAD must call speech
    candidate_frames: int = 2
    # Layered mode only ducks at a candidate (no pause), so it can afford to fire on the first frame where
    # energy and the VAD agree: 20 ms earlier is 20 ms less of full-level agent over the caller.
    duck_frames: int = 1
    # "layered" (shipped): energy + VAD + first words; "energy": the seed's detector alone cuts the agent;
    # "vad": VAD speech for the seed's minimum duration cuts the agent. The last two exist for comparison.
    mode: Literal["layered", "energy", "vad"] = "layered"
    # Layered mode also listens below the seed's energy floor when the VAD hears a voice (a quiet caller, a
    # noisy line that lifted the baseline): frames this much above the noise baseline, and not quieter
    # than soft_min_energy, count when the VAD agrees.
    soft_factor: float = 1.5
    soft_min_energy: float = 300.0


class BargeInDetector:
    def __init__(self, config: BargeInConfig | None = None) -> None:
        self.config = config or BargeInConfig()
        self.energy = EnergyDetector(self.config.energy)
        self._run_vad: deque[bool] = deque(maxlen=64)
        self.candidate = False
        self.onset_ms: float | None = None
        self._soft_run = 0
        self._soft_confirmed = False

    def process(self, energy: float, vad_prob: float, frame_start_ms: float) -> BargeInEvent:
        if self.config.mode == "vad":
            # VAD-only detector: the VAD's verdict stands in for the energy test.
            energy = 1e9 if vad_prob >= self.config.vad_threshold else 0.0
        soft_floor = max(self.energy.baseline * self.config.soft_factor, self.config.soft_min_energy)
        voiced = vad_prob >= self.config.vad_threshold and energy >= soft_floor
        self._soft_run = self._soft_run + 1 if voiced and self.config.mode == "layered" else 0
        triggered = self.energy.process(energy, frame_start_ms)
        if not self.energy.in_speech and self._soft_run:
            return self._soft_event(frame_start_ms)
        if not self.energy.in_speech:
            self._soft_confirmed = False
            self._run_vad.clear()
            if self.candidate:
                self.candidate = False
                self.onset_ms = None
                return BargeInEvent.ABORTED
            return BargeInEvent.NONE
        self._run_vad.append(vad_prob >= self.config.vad_threshold)
        if self.onset_ms is None:
            self.onset_ms = self.energy.speech_start_ms
        if triggered:
            if self._vad_agrees():
                self.candidate = False
                return BargeInEvent.CONFIRMED
            # Energy without speech (tone, hum, noise burst): let it pass, allow a later trigger.
            self.energy.last_trigger_ms = None
        if not self.candidate and self._candidate_ready():
            self.candidate = True
            return BargeInEvent.CANDIDATE
        return BargeInEvent.NONE

    def _soft_event(self, frame_start_ms: float, frame_ms: float = 20.0) -> BargeInEvent:
        """A voice the VAD hears below the seed's energy threshold."""
        if self.onset_ms is None:
            self.onset_ms = frame_start_ms - (self._soft_run - 1) * frame_ms
        if not self.candidate and self._soft_run >= self._frames_needed() + 1:
            self.candidate = True
            return BargeInEvent.CANDIDATE
        sustained = self._soft_run * frame_ms >= self.config.energy.min_speech_ms
        if sustained and not self._soft_confirmed:
            self._soft_confirmed = True
            return BargeInEvent.CONFIRMED
        return BargeInEvent.NONE

    def _vad_agrees(self, frame_ms: float = 20.0) -> bool:
        if not self.config.vad_confirm or self.config.mode != "layered":
            return True
        # Judge the most recent stretch the seed asks for, not the whole run: on a noisy line the energy
        # run can be seconds long and mostly noise before the caller's voice starts.
        recent = max(2, int(self.config.energy.min_speech_ms / frame_ms))
        votes = list(self._run_vad)[-recent:]
        return sum(votes) >= max(2, int(self.config.min_vad_ratio * len(votes) + 0.5))

    def _frames_needed(self) -> int:
        return self.config.duck_frames if self.config.mode == "layered" else self.config.candidate_frames

    def _candidate_ready(self) -> bool:
        votes = list(self._run_vad)
        needed = self._frames_needed()
        if len(votes) < needed:
            return False
        recent = votes[-needed:]
        # Layered mode only ducks at a candidate, so it need not wait for the VAD (Silero lags a voice's
        # onset by 40-80 ms): energy alone ducks, and the VAD decides what happens next.
        return all(recent) or not self.config.vad_confirm or self.config.mode == "layered"

    def reset(self) -> None:
        self.energy.reset_run()
        self._soft_run = 0
        self._soft_confirmed = False
        self._run_vad.clear()
        self.candidate = False
        self.onset_ms = None
