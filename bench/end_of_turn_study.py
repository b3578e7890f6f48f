"""How long would the end-of-turn rules wait, on sentences the latency bench never says?

A held-out corpus of sales-call sentences, each said whole (a finished turn) and cut where a caller pauses
mid-sentence (``split_for_pause``: running intonation, as a person who pauses keeps it), in the four caller
voices through the phone line, after 300 ms and followed by 200 ms of line noise (a clip that starts on the
first syllable makes Whisper drop the first word: "Am I speaking with?"). For each clip: Whisper's final text,
what the words say (``completeness``), Smart Turn v3's probability, and the silence ``required_silence_ms``
would ask for under each eagerness and under candidate ``unfinished_p`` thresholds. A fragment is *held* when
the wait is longer than the caller's pause (500-700 ms in the latency bench; reported at 600 and 700 ms); a
finished turn's cost is its wait. Offline and deterministic (no call loop): it picks thresholds, the latency
bench checks them in calls.

Run: ``.venv/bin/python bench/end_of_turn_study.py`` (writes ``bench/results/end_of_turn_study.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench.callers import CALLER_VOICES, RATE, phone_line, render, split_for_pause
from bench.common import machine_info, percentile, write_result

from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.smart_turn import SmartTurnV3
from sdr_agent.engines.local.whisper_stt import WhisperSTT
from sdr_agent.settings import STTSettings, TTSSettings
from sdr_agent.voice.caller_turn import AcousticGuess, CallerTurn, Utterance
from sdr_agent.voice.end_of_turn import TIMINGS, Completeness, Eagerness, completeness, required_silence_ms

TRAILING_MS = 200  # the pause the acoustic model hears (listener.PROBE_PAUSE_MS)
LEADING_MS = 300  # line before the voice, as in a call (the listener's and the stream's pre-roll)
SNR_DB = 25.0


@dataclass(frozen=True, slots=True)
class Sentence:
    whole: str
    fragment: str  # the words before the caller's pause


# Not the latency bench's lines, not the demo's product.
CORPUS: tuple[Sentence, ...] = (
    Sentence("Do you integrate with HubSpot or only with Salesforce?", "Do you integrate with"),
    Sentence("The thing is, we already pay for another dialer.", "The thing is,"),
    Sentence("My manager would need to see a demo before we decide.", "My manager would need to"),
    Sentence("What happens to our data if we cancel?", "What happens to"),
    Sentence("We have about twelve reps on the phones every day.", "We have about twelve reps"),
    Sentence("I'm not sure this is the right time for us.", "I'm not sure"),
    Sentence("Could you tell me how billing works for annual plans?", "Could you tell me"),
    Sentence("Honestly, the last vendor we used was a nightmare.", "Honestly, the last vendor we used"),
    Sentence("Is it possible to try it with a few people first?", "Is it possible to try it"),
    Sentence("Send me something in writing and I'll look at it.", "Send me something in writing"),
    Sentence("We're mostly focused on inbound leads right now.", "We're mostly focused on"),
    Sentence("How long does the setup usually take for a team our size?",
             "How long does the setup usually take"),
    Sentence("I wanted to ask whether you support Spanish speaking callers.", "I wanted to ask"),
    Sentence("Our biggest worry is the price when we grow.", "Our biggest worry is"),
)
SHORT_ANSWERS = ("Yes, that works for me.", "No, not really.", "Thursday afternoon is better.",
                 "Who am I speaking with?", "That sounds expensive.", "Sure, go ahead.")
UNFINISHED_P = (0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True, slots=True)
class Clip:
    voice: str
    kind: str  # "finished" or "fragment"
    said: str
    text: str
    words: Completeness
    p: float


def wait_ms(clip: Clip, eagerness: Eagerness, unfinished_p: float | None = None) -> float:
    timing = TIMINGS[eagerness]
    if unfinished_p is not None:
        timing = replace(timing, unfinished_p=unfinished_p)
    utterance = Utterance(started_at=0.0)
    utterance.resolve(clip.text)
    turn = CallerTurn([utterance], last_voice_at=1.0)
    turn.acoustic = AcousticGuess(voice_at=1.0, probability=clip.p, done=True)
    return required_silence_ms(turn, timing)


async def clips(voices: int) -> list[Clip]:
    chosen = list(CALLER_VOICES[:voices])
    texts = [s.whole for s in CORPUS] + [s.fragment for s in CORPUS] + list(SHORT_ANSWERS)
    speech = await render(texts, chosen, lambda speed: HibariTTS(TTSSettings(speed=speed)))
    stt = WhisperSTT(STTSettings())
    model = SmartTurnV3()
    rng = np.random.default_rng(7)
    out: list[Clip] = []
    for voice in chosen:
        if (CORPUS[0].whole, voice.name) not in speech:
            continue  # espeak-ng missing
        cases: list[tuple[str, str, np.ndarray]] = []
        for sentence in CORPUS:
            whole = speech[(sentence.whole, voice.name)]
            alone = speech[(sentence.fragment, voice.name)]
            first, _rest = split_for_pause(whole, 1000.0 * len(alone) / RATE)
            cases += [("finished", sentence.whole, whole), ("fragment", sentence.fragment, first)]
        cases += [("finished", text, speech[(text, voice.name)]) for text in SHORT_ANSWERS]
        for kind, said, pcm in cases:
            lead, trail = (np.zeros(RATE * ms // 1000, np.int16) for ms in (LEADING_MS, TRAILING_MS))
            heard = phone_line(np.concatenate([lead, pcm, trail]), SNR_DB, rng)
            text = await stt.transcribe(heard, RATE)
            p = model.predict(heard, RATE)
            out.append(Clip(voice.name, kind, said, text, completeness(text), round(p, 3)))
    return out


def policy_numbers(all_clips: list[Clip], eagerness: Eagerness, unfinished_p: float | None) -> dict[str, Any]:
    finished = [wait_ms(c, eagerness, unfinished_p) for c in all_clips if c.kind == "finished"]
    fragments = [wait_ms(c, eagerness, unfinished_p) for c in all_clips if c.kind == "fragment"]
    return {
        "eagerness": eagerness.value,
        "unfinished_p": unfinished_p if unfinished_p is not None else TIMINGS[eagerness].unfinished_p,
        "finished_wait_ms_p50": percentile(finished, 50),
        "finished_wait_ms_p95": percentile(finished, 95),
        "finished_waiting_over_500ms": sum(w > 500 for w in finished),
        "finished": len(finished),
        "fragments_held_600ms": sum(w >= 600 for w in fragments),
        "fragments_held_700ms": sum(w >= 700 for w in fragments),
        "fragments": len(fragments),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=len(CALLER_VOICES))
    args = parser.parse_args(argv)
    all_clips = asyncio.run(clips(args.voices))
    policies = [policy_numbers(all_clips, e, None) for e in Eagerness]
    policies += [policy_numbers(all_clips, Eagerness.NORMAL, p) for p in UNFINISHED_P]
    print(f"{'policy':>22} {'finished wait p50/p95':>22} {'>500ms':>7} {'fragments held 600/700':>24}")
    for row in policies:
        over, finished, fragments = row["finished_waiting_over_500ms"], row["finished"], row["fragments"]
        print(f"{row['eagerness']:>10} p<{row['unfinished_p']:<9} {row['finished_wait_ms_p50']:>10.0f} /"
              f"{row['finished_wait_ms_p95']:>6.0f} ms {over:>4}/{finished}"
              f" {row['fragments_held_600ms']:>10}/{fragments} {row['fragments_held_700ms']:>6}/{fragments}")
    for kind in ("fragment", "finished"):
        ps = [c.p for c in all_clips if c.kind == kind]
        print(f"Smart Turn p on {kind}s: " + ", ".join(
            f"<{t}: {sum(p < t for p in ps)}/{len(ps)}" for t in UNFINISHED_P))
    write_result("end_of_turn_study", {
        "bench": "end_of_turn_study", "machine": machine_info(), "trailing_ms": TRAILING_MS,
        "policies": policies,
        "clips": [{"voice": c.voice, "kind": c.kind, "said": c.said, "text": c.text, "words": c.words.value,
                   "p": c.p} for c in all_clips],
    })


if __name__ == "__main__":
    main()
