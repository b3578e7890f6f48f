"""The peer bench's bookkeeping: what one stack under test is, its numbers, the ratios ours ÷ Pipecat, the
package versions on both sides, and the printed table (``bench/peers.py`` runs the calls)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.caller_ear import ReplyJudgement
from bench.common import format_ms, print_table, summary
from bench.peers_calls import Interjected

from sdr_agent.sim.call_record import CallPlan, SimulatedCall

PEERS_PYTHON = Path(__file__).resolve().parent / ".venv-peers" / "bin" / "python"
VERSIONS = ("faster-whisper", "ctranslate2", "onnxruntime", "hibari-tts", "numpy")


@dataclass
class Stack:
    name: str
    process: asyncio.subprocess.Process
    dial: Callable[[CallPlan, str], Awaitable[SimulatedCall]]
    judged: list[ReplyJudgement] = field(default_factory=list)
    interjected: list[Interjected] = field(default_factory=list)
    cpu_s: float = 0.0
    call_s: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)
    capacity: dict[str, Any] = field(default_factory=dict)


def stack_numbers(stack: Stack) -> dict[str, Any]:
    replies = [j.latency_ms for j in stack.judged if j.latency_ms is not None]
    complete = [j.latency_ms for j in stack.judged if j.latency_ms is not None and j.complete]
    barge = [i for i in stack.interjected if i.label.startswith("barge-in")]
    back = [i for i in stack.interjected if i.label.startswith("backchannel") and i.agent_was_playing]
    stops = [i.stop_latency_ms for i in barge if i.stop_latency_ms is not None]
    return {
        "turns": len(stack.judged),
        "reply_latency_ms": summary(replies),
        "reply_latency_complete_questions_ms": summary(complete),
        "unanswered_turns": sum(1 for j in stack.judged if j.latency_ms is None),
        "cut_offs": sum(j.cut_off for j in stack.judged),
        "bargein_stop_latency_ms": summary(stops),
        "bargeins_agent_not_playing": sum(1 for i in barge if not i.agent_was_playing),
        "backchannels": len(back),
        "backchannel_false_interruptions": sum(i.agent_gave_up for i in back),
        "cpu_pct_of_one_core_per_call": round(100.0 * stack.cpu_s / stack.call_s, 1)
        if stack.call_s
        else None,
        "call_seconds": round(stack.call_s, 1),
        "capacity": stack.capacity,
        "calls": stack.calls,
    }


def ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    def div(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    return {
        "reply_p50": div(ours["reply_latency_ms"]["p50"], peer["reply_latency_ms"]["p50"]),
        "reply_p95": div(ours["reply_latency_ms"]["p95"], peer["reply_latency_ms"]["p95"]),
        "bargein_stop_p50": div(
            ours["bargein_stop_latency_ms"]["p50"], peer["bargein_stop_latency_ms"]["p50"]
        ),
        "cpu_per_call": div(ours["cpu_pct_of_one_core_per_call"], peer["cpu_pct_of_one_core_per_call"]),
        "calls_held": div(ours["capacity"].get("calls_held"), peer["capacity"].get("calls_held")),
    }


def versions() -> dict[str, Any]:
    ours = {name: importlib.metadata.version(name) for name in ("sdr-agent", *VERSIONS)}
    code = (
        "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
        f"{('pipecat-ai', *VERSIONS)!r}}}))"
    )
    peer = json.loads(
        subprocess.run([str(PEERS_PYTHON), "-c", code], capture_output=True, text=True, check=True).stdout
    )
    return {"ours": ours, "pipecat_venv": peer}


def print_report(report: dict[str, Any]) -> None:
    rows = []
    for name, numbers in report["stacks"].items():
        reply, stop = numbers["reply_latency_ms"], numbers["bargein_stop_latency_ms"]
        rows.append(
            [
                name,
                str(reply["n"]),
                format_ms(reply["p50"]),
                format_ms(reply["p95"]),
                format_ms(stop["p50"]),
                f"{numbers['backchannel_false_interruptions']}/{numbers['backchannels']}",
                f"{numbers['cpu_pct_of_one_core_per_call']} %",
                str(numbers["capacity"].get("calls_held")),
            ]
        )
    ratio = report["ratio_ours_over_pipecat"]
    rows.append(
        [
            "ours ÷ pipecat",
            "",
            str(ratio["reply_p50"]),
            str(ratio["reply_p95"]),
            str(ratio["bargein_stop_p50"]),
            "",
            str(ratio["cpu_per_call"]),
            str(ratio["calls_held"]),
        ]
    )
    print_table(
        f"Ours vs Pipecat, same call (load avg {report['machine']['load_avg_1_5_15']}, "
        f"wall {report['wall_s']} s)",
        [
            "stack",
            "turns",
            "reply p50",
            "reply p95",
            "barge-in stop p50",
            "backchannel false int.",
            "CPU/call (1 core)",
            "calls held",
        ],
        rows,
    )
