"""Whisper's short window (``engines/local/whisper_fast``) against faster-whisper's 30 s path, same clips.

Renders sentences of 0.5-6 s in every caller voice (``bench/callers.py``) through the phone path, decodes
each clip both ways, and reports: text identical (share, and the differing pairs), decode time p50/p95 of
each path, and Whisper's no_speech_prob on silence, noise, a tone and clicks for both. Writes
``bench/results/whisper_window.json``. Run: ``.venv/bin/python bench/whisper_window.py``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench.callers import CALLER_VOICES, phone_line, render
from bench.common import machine_info, summary, write_result

from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.whisper_model import SharedWhisper, WhisperConfig, default_model_path
from sdr_agent.settings import TTSSettings

SENTENCES = (
    "Yes.", "Okay, sure.", "How much is it?", "Is there a free trial?", "Who else uses this?",
    "How much does the Team plan cost?", "Can we book a meeting on Tuesday at three?",
    "Sorry, can you say that again?", "Wait, what does the onboarding look like?",
    "I'm not sure we need this right now, we already have a vendor.",
    "What happens to our data if we cancel the subscription after the first year?",
    "We are a team of about forty people and most of us work remotely, so how does the pricing work for us?",
    "Stop, that's not what I need.", "Right, right.", "Mm-hmm.",
)


def _non_speech(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(8000) / 8000
    clicks = np.zeros(8000)
    clicks[::1600] = 12000
    return {
        "silence": np.zeros(8000, dtype=np.int16),
        "noise": (rng.standard_normal(8000) * 600).astype(np.int16),
        "tone_440": (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16),
        "clicks": clicks.astype(np.int16),
    }


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _edits(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


async def run() -> dict[str, Any]:
    load = machine_info()["load_avg_1_5_15"]
    speech = await render(SENTENCES, CALLER_VOICES, lambda speed: HibariTTS(TTSSettings(speed=speed)))
    rng = np.random.default_rng(7)
    config = WhisperConfig(model=default_model_path())
    fast = SharedWhisper(config)
    slow = SharedWhisper(replace(config, short_window=False))
    fast.model()
    slow._model = fast.model()  # the same weights; only the window differs
    same, differ = 0, []
    errors = {"short_window": 0, "30s_window": 0}
    words = 0
    times: dict[str, list[float]] = {"short_window": [], "30s_window": []}
    for (text, voice), clean in speech.items():
        pcm = phone_line(clean, 25.0, rng)
        a = fast.recognise(pcm, 8000)
        b = slow.recognise(pcm, 8000)
        times["short_window"].append(a.decode_s * 1000)
        times["30s_window"].append(b.decode_s * 1000)
        words += len(_words(text))
        errors["short_window"] += _edits(_words(text), _words(a.text))
        errors["30s_window"] += _edits(_words(text), _words(b.text))
        if a.text == b.text:
            same += 1
        else:
            differ.append({"voice": voice, "said": text, "short": a.text, "long": b.text})
    non_speech = {}
    for name, pcm in _non_speech(rng).items():
        a, b = fast.recognise(pcm, 8000), slow.recognise(pcm, 8000)
        non_speech[name] = {
            "short": {"text": a.text, "no_speech": [round(s.no_speech_prob, 3) for s in a.segments]},
            "long": {"text": b.text, "no_speech": [round(s.no_speech_prob, 3) for s in b.segments]},
        }
    report = {
        "bench": "whisper_window",
        "machine": machine_info(),
        "load_avg_at_start": load,
        "clips": len(speech),
        "identical_text_share": round(same / max(1, len(speech)), 3),
        "word_error_rate": {k: round(v / max(1, words), 3) for k, v in errors.items()},
        "differences": differ,
        "decode_ms": {k: summary(v) for k, v in times.items()},
        "non_speech": non_speech,
    }
    return report


def main() -> None:
    started = time.monotonic()
    report = asyncio.run(run())
    report["wall_s"] = round(time.monotonic() - started, 1)
    print(f"word error rate vs what was said: {report['word_error_rate']}")
    print(f"identical text: {report['identical_text_share']:.1%} of {report['clips']} clips")
    for key, numbers in report["decode_ms"].items():
        print(f"{key}: p50 {numbers['p50']} ms, p95 {numbers['p95']} ms")
    for d in report["differences"]:
        print(f"  {d['voice']}: {d['short']!r} vs {d['long']!r}")
    write_result("whisper_window", report)


if __name__ == "__main__":
    main()
