"""Timings of the offline engines on this machine: Whisper decodes, HibariTTS speed, VAD per-frame cost.

Run: ``.venv/bin/python bench/engines.py [--repeats N]``. Prints a table, then one JSON line, and writes
``bench/results/engines.json``. Also prints what Whisper makes of non-speech with and without our filter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import resample
from sdr_agent.engines.base import PCM16, AudioFrame
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.vad import SileroVAD, WebRtcVAD
from sdr_agent.engines.local.whisper_filter import rejection_reason
from sdr_agent.engines.local.whisper_model import active_level_dbfs
from sdr_agent.engines.local.whisper_stt import WhisperSTT
from sdr_agent.settings import STTSettings

SHORT = "Sounds good."  # about 1 s of speech
LONG = "I would like to book a meeting on Tuesday."  # about 3 s
TTS_SENTENCES = [
    "Hi, this is Alex from Acme.",
    "Our platform helps sales teams book more meetings with less manual work.",
    "Would Tuesday at three in the afternoon work for a short demo?",
]
RESULTS = Path(__file__).resolve().parent / "results" / "engines.json"


def median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 2)


def timed(function: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        out.append(time.perf_counter() - started)
    return out


async def synth(tts: HibariTTS, text: str) -> tuple[PCM16, float, float]:
    """Audio (24 kHz), seconds to the first chunk, seconds in all."""
    started = time.perf_counter()
    first = 0.0
    parts = []
    async for chunk in tts.synthesize(text):
        if not parts:
            first = time.perf_counter() - started
        parts.append(chunk.data)
    total = time.perf_counter() - started
    return np.frombuffer(b"".join(parts), dtype="<i2").astype(np.int16), first, total


def telephone(pcm24: PCM16) -> PCM16:
    return ulaw_to_pcm(pcm_to_ulaw(resample(pcm24, 24000, 8000)))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def recall(expected: str, heard: str) -> float:
    want, got = words(expected), set(words(heard))
    return round(sum(w in got for w in want) / len(want), 2)


async def bench_tts(repeats: int) -> tuple[dict[str, Any], dict[str, PCM16]]:
    tts = HibariTTS()
    started = time.perf_counter()
    await tts.warm_up()
    warm_up_s = time.perf_counter() - started
    firsts, rtfs = [], []
    for _ in range(repeats):
        for sentence in TTS_SENTENCES:
            audio, first, total = await synth(tts, sentence)
            firsts.append(first)
            rtfs.append((len(audio) / 24000) / total)
    speech = {text: telephone((await synth(tts, text))[0]) for text in (SHORT, LONG)}
    return {
        "hibari_warm_up_s": round(warm_up_s, 3),
        "hibari_first_chunk_ms_p50": median_ms(firsts),
        "hibari_first_chunk_ms_max": round(1000 * max(firsts), 2),
        "hibari_x_realtime_p50": round(statistics.median(rtfs), 1),
    }, speech


async def bench_stt(speech: dict[str, PCM16], repeats: int) -> dict[str, Any]:
    stt = WhisperSTT(STTSettings())
    started = time.perf_counter()
    await stt.warm_up()
    load_s = time.perf_counter() - started
    shared = stt.shared
    out: dict[str, Any] = {"whisper_load_and_first_decode_s": round(load_s, 3)}
    for label, text in (("1s", SHORT), ("3s", LONG)):
        pcm = speech[text]
        heard = shared.recognise(pcm, 8000).text
        out[f"whisper_decode_{label}_ms_p50"] = median_ms(timed(lambda pcm=pcm: shared.recognise(pcm, 8000),
                                                                repeats))
        out[f"whisper_{label}_audio_s"] = round(len(pcm) / 8000, 2)
        out[f"whisper_{label}_word_recall"] = recall(text, heard)
    partial = speech[LONG][: len(speech[LONG]) // 2]
    out["whisper_partial_decode_ms_p50"] = median_ms(timed(lambda: shared.recognise(partial, 8000), repeats))
    out["whisper_finalize_to_final_ms_p50"] = median_ms(
        [await finalize_latency(stt, speech[LONG]) for _ in range(repeats)]
    )
    return out


async def finalize_latency(stt: WhisperSTT, pcm: PCM16) -> float:
    """Seconds from finalize() to the final, with partials running as they would in a live call."""
    stream = await stt.open_stream()
    for start in range(0, len(pcm) - 159, 160):
        chunk = pcm[start : start + 160]
        await stream.send(AudioFrame(pcm_to_ulaw(chunk), chunk))
        await asyncio.sleep(0.02)
    started = time.perf_counter()
    await stream.finalize()
    async for result in stream.results():
        if result.is_final:
            break
    elapsed = time.perf_counter() - started
    await stream.aclose()
    return elapsed


def bench_vad(speech: PCM16, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    frames = [speech[i : i + 160] for i in range(0, len(speech) - 159, 160)]
    for label, make in (("silero", SileroVAD), ("webrtc", WebRtcVAD)):
        vad = make()
        costs = []
        for _ in range(repeats):
            vad.reset()
            started = time.perf_counter()
            for frame in frames:
                vad.speech_probability(frame)
            costs.append((time.perf_counter() - started) / len(frames))
        out[f"{label}_us_per_20ms_frame"] = round(1e6 * statistics.median(costs), 1)
    return out


def hallucination_table(stt: WhisperSTT) -> list[dict[str, Any]]:
    """Raw Whisper output on non-speech (its own thresholds off) and whether our filter drops it."""
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 8000
    signals = {
        "silence": np.zeros(16000, dtype=np.int16),
        "noise_-30dBFS": (rng.normal(0, 0.03, 16000) * 32767).astype(np.int16),
        "noise_-12dBFS": np.clip(rng.normal(0, 0.25, 16000) * 32767, -32768, 32767).astype(np.int16),
        "tone_1kHz": (0.3 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16),
        "tone_440Hz": (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16),
    }
    rows = []
    for name, pcm in signals.items():
        recognition = stt.shared.recognise(pcm, 8000)
        level = active_level_dbfs(pcm, 8000)
        for segment in recognition.segments:
            rows.append({
                "input": name,
                "raw_text": segment.text.strip(),
                "no_speech": round(segment.no_speech_prob, 2),
                "avg_logprob": round(segment.avg_logprob, 2),
                "dropped_because": rejection_reason(segment, level),
            })
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tts_numbers, speech = await bench_tts(args.repeats)
    stt_numbers = await bench_stt(speech, args.repeats)
    vad_numbers = bench_vad(speech[LONG], args.repeats)
    numbers = {**tts_numbers, **stt_numbers, **vad_numbers}
    table = hallucination_table(WhisperSTT(STTSettings()))
    print(f"{'metric':40s} value")
    for key, value in numbers.items():
        print(f"{key:40s} {value}")
    print("\nwhisper on non-speech (2 s each, telephone band):")
    for row in table:
        print(f"  {row['input']:14s} {row['raw_text']!r:32s} no_speech={row['no_speech']:<5} "
              f"avg_logprob={row['avg_logprob']:<6} dropped: {row['dropped_because']}")
    report = {
        "bench": "engines",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "repeats": args.repeats,
        "results": numbers,
        "whisper_non_speech": table,
    }
    print(json.dumps(report))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
