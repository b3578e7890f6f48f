"""Short interruption phrases under Whisper: greedy vs beam search vs a prompt, on the barge-in corpus.

For each decoder setting, every interruption clip (tuned and held-out voices, line noise at its SNR,
mu-law) is decoded as the barge-in hold sees it — its first 300/450/600 ms and whole — and scored by
whether the session's stop phrases (or, whole, a question) are found; backchannels and non-speech sounds
are decoded whole and scored by how often stop words are made up (a false interruption). Prints the
table, the decode cost per clip (p50/p95 ms, one clip at a time) and one JSON line.

Run: ``.venv/bin/python bench/whisper_short_beam.py`` (~2-4 min on 2 cores).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
from bench.bargein import HELD_OUT_BACKCHANNELS, HELD_OUT_INTERRUPTIONS, HELD_OUT_PLAN, HELD_OUT_VOICES
from bench.bargein_corpus import BACKCHANNELS, INTERRUPTIONS, CorpusPlan, build_corpus, line_noise, to_pcm16
from bench.callers import CALLER_VOICES, render
from bench.common import percentile, write_result

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.whisper_model import SharedWhisper, WhisperConfig, default_model_path
from sdr_agent.settings import STTSettings, TTSSettings
from sdr_agent.voice.backchannel import contains_phrase, normalise_words
from sdr_agent.voice.config import DEFAULT_STOP_PHRASES

PROMPT = STTSettings().whisper_bargein_prompt
SETTINGS = {
    "greedy": (1, ""),
    "beam5": (5, ""),
    "greedy+prompt": (1, PROMPT),
    "beam5+prompt": (5, PROMPT),
}
PREFIXES_MS = (300, 450, 600, 0)  # 0: the whole clip
STOPS = [tuple(normalise_words(p)) for p in DEFAULT_STOP_PHRASES]


def stop_in(text: str) -> bool:
    words = normalise_words(text)
    return any(contains_phrase(words, phrase) for phrase in STOPS)


def on_the_line(pcm: np.ndarray[Any, Any], stimulus: Any) -> np.ndarray[Any, Any]:
    lead = 1600  # 200 ms of line noise before the onset, as the stream's pre-roll has
    noise = line_noise(stimulus, len(pcm) + lead)
    mixed = noise.copy()
    mixed[lead:] += pcm.astype(np.float64)
    return ulaw_to_pcm(pcm_to_ulaw(to_pcm16(mixed)))


async def main() -> None:
    load_start = os.getloadavg()
    started = time.monotonic()

    def make_tts(speed: float) -> HibariTTS:
        return HibariTTS(TTSSettings(speed=speed))

    speech = await render(list(dict.fromkeys([*INTERRUPTIONS, *BACKCHANNELS])), CALLER_VOICES, make_tts)
    corpus = build_corpus(CorpusPlan(non_speech=21, echo=0), speech)
    held_texts = list(dict.fromkeys([*HELD_OUT_INTERRUPTIONS, *HELD_OUT_BACKCHANNELS]))
    corpus += build_corpus(HELD_OUT_PLAN, await render(held_texts, HELD_OUT_VOICES, make_tts),
                           interruptions=HELD_OUT_INTERRUPTIONS, backchannels=HELD_OUT_BACKCHANNELS,
                           prefix="held-")
    model = default_model_path()
    report: dict[str, Any] = {}
    for name, (beam, prompt) in SETTINGS.items():
        whisper = SharedWhisper(WhisperConfig(model=model, short_beam_size=beam, bargein_prompt=prompt))
        whisper.recognise(np.zeros(4000, dtype=np.int16), 8000)  # load + warm
        hits = {ms: 0 for ms in PREFIXES_MS}
        n_int = 0
        false_stops = {"backchannel": 0, "non_speech": 0}
        any_words_non_speech = 0
        counts = {"backchannel": 0, "non_speech": 0}
        short_ms: list[float] = []
        for stimulus in corpus:
            line = on_the_line(stimulus.pcm, stimulus)
            if stimulus.label == "interruption":
                n_int += 1
                for ms in PREFIXES_MS:
                    clip = line[: 1600 + 8 * ms] if ms else line
                    rec = whisper.recognise(clip, 8000, barge_in=True)
                    if ms:
                        short_ms.append(rec.decode_s * 1000.0)
                    hits[ms] += stop_in(rec.text) or (not ms and rec.text.rstrip().endswith("?"))
            elif stimulus.label in counts:
                counts[stimulus.label] += 1
                rec = whisper.recognise(line, 8000, barge_in=True)
                short_ms.append(rec.decode_s * 1000.0)
                false_stops[stimulus.label] += stop_in(rec.text)
                if stimulus.label == "non_speech" and rec.text:
                    any_words_non_speech += 1
        report[name] = {
            "stop_words_found": {f"{ms or 'whole'}": round(hits[ms] / n_int, 3) for ms in PREFIXES_MS},
            "backchannel_false_stop": round(false_stops["backchannel"] / max(1, counts["backchannel"]), 3),
            "non_speech_false_stop": round(false_stops["non_speech"] / max(1, counts["non_speech"]), 3),
            "non_speech_any_words": round(any_words_non_speech / max(1, counts["non_speech"]), 3),
            "decode_ms_short": {"p50": round(percentile(short_ms, 50) or 0.0, 1),
                                "p95": round(percentile(short_ms, 95) or 0.0, 1)},
            "interruptions": n_int, **counts,
        }
        row = report[name]
        print(f"{name:14s} stop words @300/450/600/whole: "
              + " / ".join(f"{v:.0%}" for v in row["stop_words_found"].values())
              + f"  FI backch {row['backchannel_false_stop']:.0%}"
              + f"  FI non-speech {row['non_speech_false_stop']:.0%}"
              + f"  decode ms p50 {row['decode_ms_short']['p50']} p95 {row['decode_ms_short']['p95']}")
    result = {"bench": "whisper_short_beam", "prompt": PROMPT, "settings": report,
              "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg(),
              "wall_s": round(time.monotonic() - started, 1)}
    print(f"wall time {result['wall_s']} s, load avg {load_start} -> {result['load_avg_at_end']}")
    write_result("whisper_short_beam", result)


if __name__ == "__main__":
    asyncio.run(main())
