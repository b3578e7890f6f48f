"""Smart Turn v3: the feature code matches Whisper's, and the model loads from the installed wheel."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from sdr_agent.engines.base import TurnDetector
from sdr_agent.engines.local.smart_turn import (
    FRAMES,
    MODEL_RATE,
    N_MELS,
    SmartTurnV3,
    fit_window,
    log_mel,
    model_path,
    to_model_audio,
)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * MODEL_RATE)) / MODEL_RATE
    pitch = 140.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / MODEL_RATE) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
    return (0.2 * voice * envelope + 0.005 * rng.standard_normal(len(t))).astype(np.float32)


def test_log_mel_matches_faster_whispers_extractor_on_the_same_window() -> None:
    audio = _speechlike(3.2)
    mine = log_mel(audio)
    assert mine.shape == (N_MELS, FRAMES) == (80, 800)
    window = fit_window(audio)
    normalised = ((window - window.mean()) / np.sqrt(window.var() + 1e-7)).astype(np.float32)
    reference = FeatureExtractor(feature_size=80, chunk_length=8)(normalised, padding=0)
    assert reference.shape == mine.shape
    assert float(np.abs(mine - reference).max()) < 1e-3
    # The speech sits at the end of the window (the end of the turn is what the model reads).
    energy = mine.mean(axis=0)
    assert energy[-200:].mean() > energy[:400].mean() + 0.5


def test_the_window_keeps_the_last_eight_seconds_and_pads_the_start() -> None:
    short = np.ones(MODEL_RATE, np.float32)
    fitted = fit_window(short)
    assert len(fitted) == 8 * MODEL_RATE and fitted[0] == 0.0 and fitted[-1] == 1.0
    long = np.arange(10 * MODEL_RATE, dtype=np.float32)
    assert fit_window(long)[0] == 2 * MODEL_RATE and fit_window(long)[-1] == long[-1]
    phone = (np.sin(np.arange(8000) / 5.0) * 8000).astype(np.int16)
    assert len(to_model_audio(phone, 8000)) == MODEL_RATE  # 1 s at 8 kHz → 1 s at 16 kHz


def test_the_model_loads_from_the_installed_wheel_without_importing_pipecat() -> None:
    path = model_path()
    assert path.name.startswith("smart-turn-v3") and path.suffix == ".onnx"
    assert Path("pipecat/audio/turn/smart_turn/data").as_posix() in path.as_posix()
    detector = SmartTurnV3(path)
    assert isinstance(detector, TurnDetector)
    pcm = (np.concatenate([_speechlike(1.5), np.zeros(MODEL_RATE // 5, np.float32)]) * 20000).astype(np.int16)
    first = asyncio.run(detector.complete_probability(pcm, MODEL_RATE))
    assert 0.0 <= first <= 1.0
    assert detector.predict(pcm, MODEL_RATE) == pytest.approx(first, abs=1e-6)  # no hidden state
    assert not any(name == "pipecat" or name.startswith("pipecat.") for name in sys.modules)
