"""Does the energy gate in front of Silero delay speech onsets? The same audio, always-on vs gated VAD.

Run: ``.venv/bin/python bench/vad_gate_onsets.py`` (about 30 s). Six sentences spoken by the offline TTS
through the telephone path, separated by 1.5–3 s pauses, at talking level, −10 dB and −20 dB, on a silent
line and on one with hiss (RMS 10). Each line goes through the call's segmenter twice: with Silero on every
window (``gate_rms=0``) and with the shipped gate. Reports per condition the onset shift (gated − always-on,
in 20 ms frames; negative = earlier), segments found, and the share of windows the gated model ran. Prints a
table and one JSON line; writes ``bench/results/vad_gate_onsets.json``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
from bench.common import load_average, machine_info, print_table, write_result

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import resample, rms
from sdr_agent.engines.base import PCM16, AudioFrame
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.vad import SileroVAD
from sdr_agent.voice.bargein import BargeInDetector, BargeInEvent
from sdr_agent.voice.segmenter import SegmentEvent, SpeechSegmenter

SENTENCES = (
    "I would like to book a meeting on Tuesday.",
    "Sorry, how much does the Team plan cost?",
    "Four, five, six.",
    "So what happens to our data if we cancel?",
    "Hello? Are you there?",
    "Yes, that works for me.",
)
GAINS = (1.0, 0.3, 0.1)
HISS_RMS = (0.0, 10.0)
FRAME = 160


async def speech() -> list[PCM16]:
    tts, out = HibariTTS(), []
    for text in SENTENCES:
        chunks = [chunk async for chunk in tts.synthesize(text)]
        pcm = np.frombuffer(b"".join(c.data for c in chunks), dtype="<i2").astype(np.int16)
        out.append(ulaw_to_pcm(pcm_to_ulaw(resample(pcm, chunks[0].sample_rate, 8000))))
    return out


def line(sentences: list[PCM16], gain: float, hiss: float, rng: np.random.Generator) -> PCM16:
    parts: list[PCM16] = []
    for index, sentence in enumerate(sentences):
        parts += [np.zeros(int(8000 * (1.5 + 0.3 * index)), dtype=np.int16), sentence]
    parts.append(np.zeros(8000, dtype=np.int16))
    pcm = np.concatenate(parts).astype(np.float64) * gain
    if hiss:
        pcm += rng.normal(0, hiss, len(pcm))
    return ulaw_to_pcm(pcm_to_ulaw(np.clip(pcm, -32768, 32767).astype(np.int16)))


def bargein_onsets(vad: SileroVAD, pcm: PCM16) -> list[int]:
    """Frames where the layered barge-in detector (as while the agent speaks) raises a candidate."""
    detector, found = BargeInDetector(), []
    for index in range(len(pcm) // FRAME):
        frame = pcm[index * FRAME : (index + 1) * FRAME]
        event = detector.process(rms(frame), vad.speech_probability(frame), index * 20.0)
        if event is BargeInEvent.CANDIDATE:
            found.append(index)
    return found


def shifts_of(reference: list[int], found: list[int]) -> list[int]:
    # Pair each reference onset with the nearest gated one (extra or missing ones show in the counts).
    return [min((g - r for g in found), key=abs) for r in reference] if found else []


def onsets(vad: SileroVAD, pcm: PCM16) -> list[int]:
    segmenter, starts = SpeechSegmenter(), []
    for index in range(len(pcm) // FRAME):
        frame = pcm[index * FRAME : (index + 1) * FRAME]
        event = segmenter.process(AudioFrame(ulaw=b"", pcm=frame), vad.speech_probability(frame), rms(frame))
        if event is SegmentEvent.SPEECH_START:
            starts.append(index)
        elif event is SegmentEvent.SILENCE and segmenter.silence_ms >= 300:
            segmenter.end_segment()
    return starts


async def run() -> dict[str, Any]:
    started = time.monotonic()
    sentences = await speech()
    rng = np.random.default_rng(1)
    rows: list[dict[str, Any]] = []
    for gain in GAINS:
        for hiss in HISS_RMS:
            pcm = line(sentences, gain, hiss, rng)
            always_on, gated = SileroVAD(gate_rms=0), SileroVAD()
            reference, found = onsets(always_on, pcm), onsets(gated, pcm)
            shifts = shifts_of(reference, found)
            barge_ref = bargein_onsets(SileroVAD(gate_rms=0), pcm)
            barge_gated = bargein_onsets(SileroVAD(), pcm)
            rows.append({
                "bargein_candidates_always_on": len(barge_ref), "bargein_candidates_gated": len(barge_gated),
                "bargein_shift_frames": shifts_of(barge_ref, barge_gated),
                "gain_db": round(20 * np.log10(gain), 1), "hiss_rms": hiss,
                "segments_always_on": len(reference), "segments_gated": len(found),
                "onset_shift_frames": shifts,
                "later_frames_max": max([0, *shifts]),
                "model_windows_share": round(gated.windows_run / max(1, always_on.windows_run), 3),
            })
    all_shifts = [s for row in rows for s in row["onset_shift_frames"]]
    barge_shifts = [s for row in rows for s in row["bargein_shift_frames"]]
    return {
        "bench": "vad_gate_onsets",
        "machine": machine_info(),
        "load_avg": load_average(),
        "wall_s": round(time.monotonic() - started, 1),
        "frame_ms": 20,
        "onsets": len(all_shifts),
        "same_frame": sum(1 for s in all_shifts if s == 0),
        "earlier": sum(1 for s in all_shifts if s < 0),
        "later": sum(1 for s in all_shifts if s > 0),
        "bargein_candidates": len(barge_shifts),
        "bargein_same_frame": sum(1 for s in barge_shifts if s == 0),
        "bargein_earlier": sum(1 for s in barge_shifts if s < 0),
        "bargein_later": sum(1 for s in barge_shifts if s > 0),
        "conditions": rows,
    }


def main() -> None:
    report = asyncio.run(run())
    print_table(
        f"Silero gate vs always-on: {report['onsets']} onsets, {report['same_frame']} same frame, "
        f"{report['earlier']} earlier, {report['later']} later",
        ["gain dB", "hiss RMS", "segments on/gated", "onset shift (frames)", "barge-in shift",
         "model windows run"],
        [[str(r["gain_db"]), str(r["hiss_rms"]), f"{r['segments_always_on']}/{r['segments_gated']}",
          " ".join(str(s) for s in r["onset_shift_frames"]),
          " ".join(str(s) for s in r["bargein_shift_frames"]),
          f"{100 * r['model_windows_share']:.0f} %"]
         for r in report["conditions"]],
    )
    print(f"barge-in candidates (layered detector): {report['bargein_candidates']}, same frame "
          f"{report['bargein_same_frame']}, earlier {report['bargein_earlier']}, "
          f"later {report['bargein_later']}")
    write_result("vad_gate_onsets", report)


if __name__ == "__main__":
    main()
