"""Can the sound alone tell a long backchannel from an interruption by ~500 ms after its onset?

``voice/interruption.py`` decides "backchannel or interruption" at ``backchannel_max_ms`` (500 ms) from the
caller's words only (interruption words stop the agent; nothing else does before ``interrupt_ms``). This
script is the measurement behind that choice: every backchannel (lengthened to people's 600-830 ms) and
interruption start of the barge-in corpus, in the tuned caller voices and in the held-out ones, on the phone
line at 30/20/15 dB SNR; the onset is where the shipped energy detector ducks; the features are computed
over the next ``--window-ms`` of 20 ms frames (frames within 15 dB of the loudest):
zero-crossing rate, share of 2-3.4 kHz energy (fricatives, bursts), spectral centroid, voiced share
(Silero ≥ 0.5), syllable peaks of the energy envelope (rises and falls of ≥ 5 dB), and level at the end of
the window against the peak (a sound that is ending). Prints per-class p10/p50/p90 and how often simple
rules flag each class; writes ``bench/results/bargein_features.json``.

Run: ``.venv/bin/python bench/bargein_features.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
from bench.bargein import HELD_OUT_BACKCHANNELS, HELD_OUT_INTERRUPTIONS, HELD_OUT_VOICES
from bench.bargein_corpus import (
    BACKCHANNELS,
    INTERRUPTIONS,
    SNRS_DB,
    active_rms,
    band_pass,
    dbfs_to_rms,
    pink_noise,
    real_length,
    scale_to,
    to_pcm16,
)
from bench.callers import CALLER_VOICES, render
from bench.common import machine_info, write_result
from numpy.typing import NDArray

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.vad import SileroVAD
from sdr_agent.settings import TTSSettings
from sdr_agent.voice.backchannel import syllable_peaks
from sdr_agent.voice.bargein import BargeInDetector, BargeInEvent

FRAME = 160
RULES = {"syllables>=3": ("syllables", 3.0), "syllables>=4": ("syllables", 4.0),
         "zcr_max>=0.6": ("zcr_max", 0.6)}


def frame_features(frame: NDArray[np.int16]) -> tuple[float, float, float, float]:
    x = frame.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    band = (freqs >= 300) & (freqs <= 3400)
    total = float(spectrum[band].sum()) + 1e-9
    high = float(spectrum[band & (freqs >= 2000)].sum()) / total
    centroid = float((spectrum[band] * freqs[band]).sum()) / total
    return float(np.sqrt(np.mean(x * x))), float(np.mean(np.abs(np.diff(np.sign(x))) > 0)), high, centroid


def features(pcm: NDArray[np.int16], snr: float, rng: np.random.Generator, vad: SileroVAD,
             window: int) -> dict[str, float] | None:
    clip = scale_to(band_pass(pcm.astype(np.float64)), dbfs_to_rms(-20.0) * 10 ** (rng.uniform(-3, 3) / 20))
    lead = 8000
    line = pink_noise(lead + len(clip) + 8000, active_rms(clip) / 10 ** (snr / 20), rng)
    line[lead : lead + len(clip)] += clip
    audio = ulaw_to_pcm(pcm_to_ulaw(to_pcm16(line)))
    vad.reset()
    detector = BargeInDetector()
    rows: list[tuple[float, float, float, float, float]] = []
    onset: int | None = None
    for index, start in enumerate(range(0, len(audio) - FRAME, FRAME)):
        frame = audio[start : start + FRAME]
        prob = vad.speech_probability(frame)
        rms, zcr, high, centroid = frame_features(frame)
        event = detector.process(rms, prob, start / 8.0)
        rows.append((rms, zcr, high, centroid, prob))
        if onset is None and event is BargeInEvent.CANDIDATE and start >= lead - 10 * FRAME:
            onset = index
    if onset is None:
        return None
    rms, zcr, high, centroid, prob = np.array(rows[onset : onset + window]).T
    db = 20 * np.log10(rms + 1.0)
    loud = db > db.max() - 15
    return {"zcr": float(np.mean(zcr[loud])), "zcr_max": float(np.max(zcr[loud])),
            "high_band_share": float(np.mean(high[loud])), "centroid_hz": float(np.mean(centroid[loud])),
            "voiced_share": float(np.mean(prob >= 0.5)), "syllables": float(syllable_peaks(list(db))),
            "end_vs_peak_db": float(db[-5:].mean() - db.max())}


async def run(window_ms: float) -> dict[str, Any]:
    window = round(window_ms / 20)
    sets = {"tuned": (CALLER_VOICES, INTERRUPTIONS, BACKCHANNELS),
            "held_out": (HELD_OUT_VOICES, HELD_OUT_INTERRUPTIONS, HELD_OUT_BACKCHANNELS)}
    vad, rng = SileroVAD(), np.random.default_rng(20240917)
    report: dict[str, Any] = {"bench": "bargein_features", "machine": machine_info(), "window_ms": window_ms}
    for name, (voices, interruptions, backchannels) in sets.items():
        speech = await render(list(dict.fromkeys([*interruptions, *backchannels])), voices,
                              lambda speed: HibariTTS(TTSSettings(speed=speed)))
        rows: dict[str, list[dict[str, float]]] = {"backchannel": [], "interruption": []}
        for (text, _voice), pcm in speech.items():
            label = "backchannel" if text in backchannels else "interruption"
            for snr in SNRS_DB:
                found = features(real_length(pcm) if label == "backchannel" else pcm, snr, rng, vad, window)
                if found is not None:
                    rows[label].append(found)
        report[name] = {
            label: {"n": len(items)} | {
                key: [round(float(v), 3) for v in np.percentile([r[key] for r in items], [10, 50, 90])]
                for key in items[0]
            } | {f"flagged_by_{rule}": round(float(np.mean([r[key] >= limit for r in items])), 3)
                 for rule, (key, limit) in RULES.items()}
            for label, items in rows.items() if items
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window-ms", type=float, default=500.0,
                        help="features over this much after the onset (default 500)")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.window_ms))
    for name in ("tuned", "held_out"):
        for label, numbers in report[name].items():
            print(f"{name:8s} {label:12s} " + "  ".join(f"{k} {v}" for k, v in numbers.items()))
    write_result("bargein_features", report)


if __name__ == "__main__":
    main()
