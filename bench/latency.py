"""Reply latency as the caller feels it: N simulated calls through the real server and the Twilio stand-in.

Run: ``sdr-agent bench latency [--calls N]`` (or ``.venv/bin/python bench/latency.py``). The server runs on
127.0.0.1 with the offline engines (Whisper, Silero, grounded responder, hibari); the stand-in places each
call through the ElevenLabs outbound API and streams the prospect's lines (rendered with the offline TTS)
in real time, each after the agent went quiet. Calls run one after another, so these are single-call
numbers. Per agent reply it reads the stored stage timings back through the API (ms since the caller's
end of speech as the server saw it: VAD end, STT final, LLM first token, first TTS audio, first media
frame sent) and takes the stand-in's end-to-end number (caller audio end → first agent audio received).
Prints p50/p95 per stage, then one JSON line, and writes ``bench/results/latency.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench.common import format_ms, machine_info, print_table, summary, target_check, write_result

from sdr_agent.demo.scenario import (
    PROSPECT_NUMBER,
    CallerLine,
    agent_body,
    knowledge_text,
    render_caller_script,
)
from sdr_agent.engines.factory import build_tts
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.call_record import SimulatedCall
from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.local_stack import local_stack

STAGES = ("vad_end", "stt_final", "llm_first_token", "tts_first_audio", "first_audio_sent")
# The demo's prospect without the barge-in: every line waits for the agent to finish.
CALLER_LINES: tuple[CallerLine, ...] = (
    CallerLine("greeting", "Hi, yes, this is Jordan speaking."),
    CallerLine("pricing", "How much does the Team plan cost?"),
    CallerLine("trial", "Is there a free trial?"),
    CallerLine("meeting", "Can we book a meeting on Tuesday at 3 pm?"),
    CallerLine("confirm", "Yes, please book it."),
    CallerLine("goodbye", "Great, thank you, goodbye."),
)
TARGET_P50_MS = 700.0
TARGET_P95_MS = 1200.0
CALL_TIMEOUT_S = 150.0
# Some answers run 15 s; the prospect waits them out instead of hanging up on the script's idle timeout.
CALLER_PATIENCE_S = 40.0


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


def standin_samples(call: SimulatedCall) -> tuple[list[float], list[float]]:
    """(caller end → first agent audio received, → first agent audio played) per answered caller line."""
    received, played = [], []
    for turn in call.turns:
        if turn.kind != "speech" or turn.agent_was_playing or turn.ended_ms is None:
            continue
        if turn.response_latency_ms is not None:
            received.append(turn.response_latency_ms)
        if turn.first_agent_played_ms is not None:
            played.append(turn.first_agent_played_ms - turn.ended_ms)
    return received, played


async def run(calls: int) -> dict[str, Any]:
    load_before = machine_info()["load_avg_1_5_15"]
    started = time.monotonic()
    rendered = await render_caller_script(build_tts(TTSSettings()), CALLER_LINES)
    script = CallerScript(rendered.steps, end_timeout_s=CALLER_PATIENCE_S)
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    received: list[float] = []
    played: list[float] = []
    per_call: list[dict[str, Any]] = []
    async with local_stack() as stack:
        document_id = await stack.create_document("Acme Cloud fact sheet", knowledge_text())
        agent_id = await stack.create_agent(agent_body(document_id))
        number_id = await stack.import_number(agent_id)
        stack.twilio.set_script(PROSPECT_NUMBER, script)
        for index in range(calls):
            conversation_id, call_sid = await stack.place_call(
                agent_id, number_id, PROSPECT_NUMBER, {"customer_name": "Jordan"}
            )
            call = await stack.twilio.wait_for_call(call_sid, timeout=CALL_TIMEOUT_S)
            conversation = await stack.wait_for_status(conversation_id, {"done", "failed"}, timeout=20.0)
            call_stages = stage_samples(conversation["transcript"])
            call_received, call_played = standin_samples(call)
            for stage in STAGES:
                stages[stage] += call_stages[stage]
            received += call_received
            played += call_played
            per_call.append({
                "conversation_id": conversation_id,
                "status": conversation["status"],
                "replies": len(call_stages["first_audio_sent"]),
                "end_to_end_ms": [round(v, 1) for v in call_received],
            })
            print(f"call {index + 1}/{calls}: {conversation['status']}, "
                  f"{len(call_received)} replies, end-to-end "
                  + ", ".join(f"{v:.0f}" for v in call_received) + " ms", file=sys.stderr, flush=True)
    end_to_end = summary(received)
    return {
        "bench": "latency",
        "machine": machine_info(),
        "load_avg_at_start": load_before,
        "engines": {"stt": "whisper tiny.en int8", "vad": "silero", "llm": "grounded", "tts": "hibari"},
        "calls": calls,
        "wall_s": round(time.monotonic() - started, 1),
        "stages_ms": {stage: summary(samples) for stage, samples in stages.items()},
        "end_to_end_ms": end_to_end,
        "first_agent_audio_played_ms": summary(played),
        "targets": {
            "end_to_end_p50_ms": {"target": TARGET_P50_MS, "measured": end_to_end["p50"],
                                  "verdict": target_check(end_to_end["p50"], TARGET_P50_MS)},
            "end_to_end_p95_ms": {"target": TARGET_P95_MS, "measured": end_to_end["p95"],
                                  "verdict": target_check(end_to_end["p95"], TARGET_P95_MS)},
        },
        "per_call": per_call,
    }


def print_report(report: dict[str, Any]) -> None:
    labels = {
        "vad_end": "VAD end of turn",
        "stt_final": "STT final",
        "llm_first_token": "LLM first token",
        "tts_first_audio": "first TTS audio",
        "first_audio_sent": "first media frame sent",
    }
    rows = [
        [labels[stage], str(numbers["n"]), format_ms(numbers["p50"]), format_ms(numbers["p95"])]
        for stage, numbers in report["stages_ms"].items()
    ]
    e2e = report["end_to_end_ms"]
    rows.append(["stand-in: first agent audio received", str(e2e["n"]), format_ms(e2e["p50"]),
                 format_ms(e2e["p95"])])
    heard = report["first_agent_audio_played_ms"]
    rows.append(["stand-in: first agent audio played", str(heard["n"]), format_ms(heard["p50"]),
                 format_ms(heard["p95"])])
    print_table(
        f"Reply latency, ms after the caller's end of speech ({report['calls']} calls, "
        f"load avg {report['machine']['load_avg_1_5_15']})",
        ["stage", "n", "p50", "p95"],
        rows,
    )
    targets = report["targets"]
    print(f"targets: end-to-end p50 ≤ {TARGET_P50_MS:.0f} ms: {targets['end_to_end_p50_ms']['verdict']}; "
          f"p95 ≤ {TARGET_P95_MS:.0f} ms: {targets['end_to_end_p95_ms']['verdict']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=4, help="simulated calls, one after another (default 4)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    report = asyncio.run(run(args.calls))
    print_report(report)
    write_result("latency", report)


if __name__ == "__main__":
    main()
