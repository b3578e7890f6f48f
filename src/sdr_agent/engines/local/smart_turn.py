"""Smart Turn v3: an acoustic end-of-turn model (has the caller finished, from how the audio ends).

The ONNX weights ship inside the ``pipecat-ai`` wheel (``pipecat/audio/turn/smart_turn/data/
smart-turn-v3*.onnx``, BSD-2-Clause, Copyright (c) 2024-2026 Daily; see THIRD_PARTY_NOTICES.md). The wheel
is installed with ``--no-deps`` from ``requirements-models.txt`` like the other model weights: its declared
dependencies (numba, a pinned soxr, ...) are not installed, so pipecat's code is never imported — only the
file is located through the package's import spec.

The model is a Whisper-tiny encoder with a classification head. Its input, as pipecat feeds it: the last
8 s of the turn at 16 kHz (zero-padded at the start when shorter), normalised to zero mean and unit
variance, as an 80 × 800 Whisper log-mel spectrogram (400-point FFT, hop 160, Slaney mel filters, log10
floored 8 below the maximum, scaled by (x + 4) / 4). It returns the sigmoid probability that the turn is
complete. The feature code below is this project's own numpy implementation of that recipe; the tests
compare it with faster-whisper's extractor on the same audio.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sdr_agent.audio.resample import resample
from sdr_agent.engines.base import PCM16

log = logging.getLogger(__name__)

MODEL_RATE = 16000
WINDOW_S = 8
N_FFT = 400
HOP = 160
N_MELS = 80
FRAMES = WINDOW_S * MODEL_RATE // HOP  # 800
_PACKAGE = "pipecat"
_DATA_DIR = ("audio", "turn", "smart_turn", "data")


class SmartTurnUnavailable(RuntimeError):
    """The pipecat-ai wheel (which carries the weights) or onnxruntime is not installed."""


def model_path() -> Path:
    """The Smart Turn v3 ONNX file inside the installed ``pipecat-ai`` wheel (newest v3.x, CPU build)."""
    spec = importlib.util.find_spec(_PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise SmartTurnUnavailable("pipecat-ai is not installed (pip install --no-deps -r "
                                   "requirements-models.txt)")
    for root in spec.submodule_search_locations:
        data = Path(root).joinpath(*_DATA_DIR)
        candidates = sorted(data.glob("smart-turn-v3*-cpu.onnx")) or sorted(data.glob("smart-turn-v3*.onnx"))
        if candidates:
            return candidates[-1]
    raise SmartTurnUnavailable("the pipecat-ai wheel has no smart-turn-v3 ONNX file")


# ---------------------------------------------------------------- features
def _hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (what Whisper's filters use)."""
    mel = 3.0 * hz / 200.0
    high = hz >= 1000.0
    mel[high] = 15.0 + np.log(hz[high] / 1000.0) * (27.0 / np.log(6.4))
    return mel


def _mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    hz = 200.0 * mel / 3.0
    high = mel >= 15.0
    hz[high] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel[high] - 15.0))
    return hz


@lru_cache(maxsize=1)
def mel_filters() -> NDArray[np.float64]:
    """(N_MELS, N_FFT // 2 + 1) triangular, area-normalised Slaney filters from 0 Hz to 8 kHz."""
    edges = _mel_to_hz(np.linspace(0.0, float(_hz_to_mel(np.array([MODEL_RATE / 2.0]))[0]), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / MODEL_RATE)
    rising = (bins[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def fit_window(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """The last 8 s of the turn, zero-padded at the start (the end of the turn is what the model reads)."""
    size = WINDOW_S * MODEL_RATE
    if len(audio) >= size:
        return audio[-size:]
    return np.concatenate([np.zeros(size - len(audio), np.float32), audio])


def log_mel(audio: NDArray[np.float32], *, normalise: bool = True) -> NDArray[np.float32]:
    """80 × 800 Whisper log-mel features of an 8 s, 16 kHz window (see the module docstring)."""
    x = fit_window(np.asarray(audio, dtype=np.float32)).astype(np.float64)
    if normalise:
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x, N_FFT // 2, mode="reflect")  # centred frames, like torch.stft(center=True)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = mel_filters() @ power[:-1].T  # Whisper drops the last frame: 800 frames for 8 s
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    features: NDArray[np.float32] = ((logs + 4.0) / 4.0).astype(np.float32)
    return features


def to_model_audio(pcm: PCM16, sample_rate: int) -> NDArray[np.float32]:
    """Telephone PCM16 at any rate → float32 in [-1, 1] at 16 kHz."""
    samples = np.asarray(pcm, dtype=np.int16)
    if sample_rate != MODEL_RATE:
        samples = resample(samples, sample_rate, MODEL_RATE)
    out: NDArray[np.float32] = samples.astype(np.float32) / np.float32(32768.0)
    return out


# ---------------------------------------------------------------- model
class SmartTurnV3:
    """``TurnDetector`` backed by the ONNX model. One per process, shared by the calls (no call state)."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a runtime dependency
            raise SmartTurnUnavailable("onnxruntime is not installed") from exc
        self.path = path or model_path()
        options = ort.SessionOptions()
        # One thread: a 2-core box serves many calls; a 60-115 ms probe must not starve the audio loops.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(self.path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()  # onnxruntime sessions are thread-safe, but serialising keeps CPU fair

    async def complete_probability(self, pcm: PCM16, sample_rate: int) -> float:
        return await asyncio.to_thread(self.predict, pcm, sample_rate)  # 60-115 ms of CPU: off the loop

    def predict(self, pcm: PCM16, sample_rate: int) -> float:
        features = log_mel(to_model_audio(pcm, sample_rate))[None, :, :]
        with self._lock:
            outputs = self._session.run(None, {self._input: features})
        return float(np.asarray(outputs[0]).reshape(-1)[0])


_shared: SmartTurnV3 | None = None
_shared_lock = threading.Lock()


def shared_smart_turn() -> SmartTurnV3 | None:
    """The process's model, loaded on first use; None (logged once) when the wheel is missing."""
    global _shared
    with _shared_lock:
        if _shared is None:
            try:
                _shared = SmartTurnV3()
            except Exception:
                log.warning("Smart Turn v3 is unavailable; end of turn falls back to words and silence",
                            exc_info=True)
                return None
        return _shared
