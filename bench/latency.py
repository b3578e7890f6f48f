"""Reply latency and silences inside replies, as a caller hears them: simulated calls through the real
server (offline engines) and the Twilio stand-in, one call per caller voice.

Run: ``sdr-agent bench latency [--voices N]`` (or ``.venv/bin/python bench/latency.py``). Each call places
an outbound call through the ElevenLabs-shaped API; the prospect speaks in a voice that is not the agent's
(``bench/callers.py``: hibari shifted in speed and pitch, espeak-ng), through a phone line (300-3400 Hz,
line noise, μ-law), and is polite: each line starts after 0.7 s of agent silence, so a silence inside a
reply loses the rest of it. Lines are complete questions of 1-5 s and utterances with a mid-sentence
pause. Everything is judged from the frames the caller heard (``bench/caller_ear.py``); the server's stage
timings (ms since its end of speech: VAD end, STT final, LLM first token, TTS first audio, first frame
sent) are read back through the API to show where the time goes. Prints per voice and overall, one JSON
line, and writes ``bench/results/latency.json`` with the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench.caller_ear import ReplyJudgement, TurnPlan, judge_turns
from bench.callers import CALLER_VOICES, RATE, CallerVoice, phone_line, render, split_for_pause
from bench.common import format_ms, machine_info, percentile, print_table, ratio, summary, write_result

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.demo.scenario import PROSPECT_NUMBER, agent_body, knowledge_text
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.caller_script import CallerScript, CallerTurn
from sdr_agent.sim.local_stack import local_stack

STAGES = ("vad_end", "stt_final", "llm_first_token", "tts_first_audio", "first_audio_sent")
POLITE_MS = 700  # people take the turn after about 0.7 s of silence
LINE_SNR_DB = 25.0
CALL_TIMEOUT_S = 240.0
CALLER_PATIENCE_S = 30.0


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    text: str
    rest: str = ""  # said after a mid-sentence pause
    pause_ms: int = 0


LINES: tuple[Line, ...] = (
    Line("greeting", "Hi, yes, this is Jordan."),
    Line("price", "How much does the Team plan cost?"),
    Line("onboarding", "I was wondering about the", "onboarding, how long does it take?", 650),
    Line("trial", "Is there a free trial?"),
    Line("remote", "We are about forty people and most of us work remotely, so how does pricing work?"),
    Line("security", "And what about", "security and compliance?", 550),
    Line("problem", "Our main problem is", "keeping track of all the leads.", 600),
    Line("meeting", "Can we book a meeting on Tuesday at three?"),
    Line("email", "Could you send me", "the pricing by email?", 500),
    Line("contract", "I'd like to know", "how long the contract runs.", 600),
    Line("tried", "We tried a similar tool last year, but", "it was too slow for us.", 700),
    Line("goodbye", "Great, thank you, goodbye."),
)
TARGETS = {"reply_p50_ms": 450.0, "reply_p95_ms": 800.0, "cut_off_rate": 0.05, "longest_gap_p99_ms": 250.0,
           "replies_lost_to_a_gap": 0}


def stage_samples(transcript: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Stage timings of every agent reply in a conversation read back through the API."""
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for item in transcript:
        if item.get("role") != "agent":
            continue
        metrics = item.get("conversation_turn_metrics") or {}
        stages = (metrics.get("details") or {}).get("stages_ms") or {}
        for stage in STAGES:
            value = stages.get(stage)
            if isinstance(value, int | float) and not isinstance(value, bool):
                samples[stage].append(float(value))
    return samples


def server_turns(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the server recognised and its stage timings, per turn (to tell why a reply was slow)."""
    out = []
    for item in transcript:
        metrics = (item.get("conversation_turn_metrics") or {}).get("details") or {}
        out.append({"role": item.get("role"), "message": (item.get("message") or "")[:80],
                    "stages_ms": metrics.get("stages_ms")})
    return out


def whole(line: Line) -> str:
    return f"{line.text} {line.rest}"


async def voice_script(voice: CallerVoice, speech: dict[tuple[str, str], np.ndarray],
                       seed: int, pauses: str = "sentence") -> tuple[CallerScript, list[TurnPlan]]:
    rng = np.random.default_rng(seed)
    steps, plans = [], []
    for line in LINES:
        first = speech[(line.text, voice.name)]
        if line.rest:
            if pauses == "sentence":  # the sentence said in one go, a pause put in (running intonation)
                first, rest = split_for_pause(speech[(whole(line), voice.name)], 1000.0 * len(first) / RATE)
            else:  # the two parts said as separate sentences (the first ends with a sentence-final fall)
                rest = speech[(line.rest, voice.name)]
            pcm = np.concatenate([first, np.zeros(RATE * line.pause_ms // 1000, np.int16), rest])
        else:
            pcm = first
        heard = phone_line(pcm, LINE_SNR_DB, rng)
        steps.append(CallerTurn(pcm_to_ulaw(heard), when="after_agent_silence", delay_ms=POLITE_MS,
                                label=line.label))
        plans.append(TurnPlan(line.label, complete=not line.rest,
                              first_part_ms=1000.0 * len(first) / RATE if line.rest else 0.0))
    return CallerScript(tuple(steps), end_timeout_s=CALLER_PATIENCE_S), plans


def voice_numbers(judged: list[ReplyJudgement]) -> dict[str, Any]:
    complete = [j for j in judged if j.complete and j.latency_ms is not None]
    incomplete = [j for j in judged if not j.complete]
    longest = [j.longest_gap_ms for j in judged if j.latency_ms is not None]
    return {
        "replies": len([j for j in judged if j.latency_ms is not None]),
        "reply_latency_ms": summary([j.latency_ms for j in complete if j.latency_ms is not None]),
        "incomplete_reply_latency_ms": summary([j.latency_ms for j in incomplete
                                                if j.latency_ms is not None]),
        "gaps_over_250ms": sum(len(j.gaps_ms) for j in judged),
        "longest_gap_per_reply_ms": summary(longest) | {"p99": percentile(longest, 99)},
        "cut_offs": sum(j.cut_off for j in incomplete),
        "incomplete_turns": len(incomplete),
        "cut_off_rate": ratio(sum(j.cut_off for j in incomplete), len(incomplete)),
        "replies_lost_to_a_gap": sum(j.lost_before for j in judged),
        "unanswered_turns": [j.label for j in judged if j.latency_ms is None],
    }


async def run(voices: list[CallerVoice], pauses: str = "sentence") -> dict[str, Any]:
    load_before = machine_info()["load_avg_1_5_15"]
    started = time.monotonic()
    texts = [t for line in LINES for t in (line.text, line.rest, whole(line) if line.rest else "") if t]
    speech = await render(texts, voices, lambda speed: HibariTTS(TTSSettings(speed=speed)))
    voices = [v for v in voices if all((t, v.name) in speech for t in texts)]
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    per_voice: dict[str, Any] = {}
    all_judged: list[ReplyJudgement] = []
    async with local_stack() as stack:
        document_id = await stack.create_document("Acme Cloud fact sheet", knowledge_text())
        agent_id = await stack.create_agent(agent_body(document_id))
        number_id = await stack.import_number(agent_id)
        for index, voice in enumerate(voices):
            script, plans = await voice_script(voice, speech, seed=index, pauses=pauses)
            stack.twilio.set_script(PROSPECT_NUMBER, script)
            conversation_id, call_sid = await stack.place_call(
                agent_id, number_id, PROSPECT_NUMBER, {"customer_name": "Jordan"}
            )
            call = await stack.twilio.wait_for_call(call_sid, timeout=CALL_TIMEOUT_S)
            conversation = await stack.wait_for_status(conversation_id, {"done", "failed"}, timeout=30.0)
            for stage, values in stage_samples(conversation["transcript"]).items():
                stages[stage] += values
            spoken = [t for t in call.turns if t.kind == "speech" and t.ended_ms is not None]
            turns = [(t.started_ms, float(t.ended_ms or 0.0)) for t in spoken]
            end_ms = call.heard_frames[-1].t_ms + 20 if call.heard_frames else 0.0
            judged = judge_turns(call.heard_frames, turns, plans[: len(turns)], end_ms)
            all_judged += judged
            per_voice[voice.name] = voice_numbers(judged) | {
                "status": conversation["status"],
                "server_turns": server_turns(conversation["transcript"]),
                "turns_said": len(turns),
                "heard": [asdict(j) for j in judged],
            }
            latencies = [round(j.latency_ms) for j in judged if j.latency_ms is not None]
            print(f"{voice.name}: {conversation['status']}, {len(turns)}/{len(LINES)} lines said, "
                  f"reply latency {latencies} ms", file=sys.stderr, flush=True)
    overall = voice_numbers(all_judged)
    return {
        "bench": "latency",
        "machine": machine_info(),
        "load_avg_at_start": load_before,
        "engines": {"stt": "whisper tiny.en int8 (10 s window)", "vad": "silero", "llm": "grounded",
                    "tts": "hibari"},
        "caller": {"voices": [asdict(v) for v in voices], "polite_after_silence_ms": POLITE_MS,
                   "line": f"300-3400 Hz, pink noise at {LINE_SNR_DB} dB SNR, mu-law 8 kHz",
                   "mid_sentence_pauses": pauses,
                   "lines": [asdict(line) for line in LINES]},
        "wall_s": round(time.monotonic() - started, 1),
        "stages_ms": {stage: summary(samples) for stage, samples in stages.items()},
        "overall": overall,
        "per_voice": per_voice,
        "targets": targets(overall),
    }


def targets(overall: dict[str, Any]) -> dict[str, Any]:
    measured = {
        "reply_p50_ms": overall["reply_latency_ms"]["p50"],
        "reply_p95_ms": overall["reply_latency_ms"]["p95"],
        "cut_off_rate": overall["cut_off_rate"],
        "longest_gap_p99_ms": overall["longest_gap_per_reply_ms"]["p99"],
        "replies_lost_to_a_gap": overall["replies_lost_to_a_gap"],
    }
    return {name: {"target": TARGETS[name], "measured": value,
                   "verdict": "n/a" if value is None else ("met" if value <= TARGETS[name] else "MISSED")}
            for name, value in measured.items()}


def print_report(report: dict[str, Any]) -> None:
    rows = []
    for name, numbers in [*report["per_voice"].items(), ("overall", report["overall"])]:
        reply = numbers["reply_latency_ms"]
        rows.append([
            name, str(reply["n"]), format_ms(reply["p50"]), format_ms(reply["p95"]),
            str(numbers["gaps_over_250ms"]), format_ms(numbers["longest_gap_per_reply_ms"]["p99"]),
            f"{numbers['cut_offs']}/{numbers['incomplete_turns']}", str(numbers["replies_lost_to_a_gap"]),
        ])
    print_table(
        f"Turn-taking heard by the caller (load avg {report['machine']['load_avg_1_5_15']})",
        ["voice", "n", "reply p50", "reply p95", "gaps>250", "gap p99", "cut-offs", "lost to gap"], rows,
    )
    stage_rows = [[stage, format_ms(n["p50"]), format_ms(n["p95"])]
                  for stage, n in report["stages_ms"].items()]
    print_table("Server stages, ms after its end of speech", ["stage", "p50", "p95"], stage_rows)
    print("targets: " + "; ".join(f"{k} {v['measured']} (≤ {v['target']}): {v['verdict']}"
                                  for k, v in report["targets"].items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", type=int, default=len(CALLER_VOICES),
                        help=f"caller voices, one call each (default {len(CALLER_VOICES)})")
    parser.add_argument("--pauses", choices=("sentence", "fragment"), default="sentence",
                        help="mid-sentence pauses cut into the whole sentence said in one go (default), or "
                             "the first part said alone as a sentence of its own")
    args = parser.parse_args(argv)
    if not 1 <= args.voices <= len(CALLER_VOICES):
        parser.error(f"--voices must be 1..{len(CALLER_VOICES)}")
    report = asyncio.run(run(list(CALLER_VOICES[: args.voices]), args.pauses))
    print_report(report)
    write_result("latency", report)


if __name__ == "__main__":
    main()
