"""The peer bench's pieces that need no Pipecat: the stand-in's fixed lines, how a backchannel is judged, the
Pipecat server script being valid Python, and the CLI passing its options through."""

from __future__ import annotations

import asyncio
import py_compile
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.peers_calls import DEFAULT_REPLY, fixed_line, gave_up_after
from typer.testing import CliRunner

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.cli import app
from sdr_agent.cli import bench as bench_cli
from sdr_agent.sim.call_record import HeardFrame, SimulatedCall, make_plan

LOUD = pcm_to_ulaw((np.sin(np.arange(160) / 3) * 3000).astype(np.int16))
QUIET = pcm_to_ulaw(np.zeros(160, dtype=np.int16))


def test_the_stand_in_answers_by_keywords_of_the_last_user_message() -> None:
    asked = [
        {"role": "system", "content": "You are Alex."},
        {"role": "user", "content": "Is there a free trial?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "How much does it cost?"},
    ]
    assert "forty nine dollars" in fixed_line(asked).text
    parts = [{"role": "user", "content": [{"type": "text", "text": "What about SECURITY?"}]}]
    assert "security" in fixed_line(parts).text
    assert fixed_line([{"role": "user", "content": "Uh-huh."}]).text == DEFAULT_REPLY
    assert fixed_line([]).text == DEFAULT_REPLY


def _call(spans: list[tuple[float, float]], until_ms: float, clears: list[float]) -> SimulatedCall:
    async def build() -> SimulatedCall:
        return SimulatedCall(
            sid="CA1",
            account_sid="AC1",
            direction="inbound",
            from_="+1",
            to="+2",
            url=None,
            status_callback=None,
            callback_events=[],
            plan=make_plan(None),
            created_monotonic=0.0,
        )

    call = asyncio.run(build())
    call.heard_frames = [
        HeardFrame(float(t), LOUD if any(a <= t < b for a, b in spans) else QUIET)
        for t in range(0, int(until_ms), 20)
    ]
    call.clears = clears
    return call


def test_a_backchannel_the_agent_talks_through_is_not_a_false_interruption() -> None:
    assert gave_up_after(_call([(0, 8000)], 8000, []), 1000.0) is False
    # A short pause between sentences (300 ms) is not giving up the turn either.
    assert gave_up_after(_call([(0, 2000), (2300, 8000)], 8000, []), 1000.0) is False


def test_stopping_or_clearing_after_a_backchannel_is_a_false_interruption() -> None:
    assert gave_up_after(_call([(0, 1400)], 8000, []), 1000.0) is True  # went quiet 400 ms after the onset
    assert gave_up_after(_call([(0, 8000)], 8000, [1500.0]), 1000.0) is True  # a clear, even if audio went on
    assert gave_up_after(_call([(0, 8000)], 8000, [4500.0]), 1000.0) is False  # a clear long after: not this


def test_the_pipecat_server_script_is_valid_python(tmp_path: Path) -> None:
    script = bench_cli.bench_dir() / "peers" / "pipecat_server.py"
    py_compile.compile(str(script), cfile=str(tmp_path / "out.pyc"), doraise=True)


def test_the_cli_runs_the_peer_bench_with_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(command: list[str], check: bool) -> Any:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(bench_cli.subprocess, "run", fake_run)
    result = CliRunner().invoke(app, ["bench", "peers", "--voices", "2", "--levels", ""])
    assert result.exit_code == 0
    assert Path(seen[0][1]).name == "peers.py"
    assert seen[0][2:] == ["--voices", "2", "--levels", "", "--turn", "default"]


def test_an_unknown_turn_mode_is_refused_before_running_anything() -> None:
    result = CliRunner().invoke(app, ["bench", "peers", "--turn", "smart"])
    assert result.exit_code == 2


def test_ratios_are_ours_over_pipecat_and_none_without_both_numbers() -> None:
    from bench.peers_report import ratios

    def numbers(p50: float | None, cpu: float | None, held: int | None) -> dict[str, Any]:
        return {
            "reply_latency_ms": {"p50": p50, "p95": p50},
            "bargein_stop_latency_ms": {"p50": None},
            "cpu_pct_of_one_core_per_call": cpu,
            "capacity": {"calls_held": held},
        }

    got = ratios(numbers(500.0, 30.0, 0), numbers(1000.0, 20.0, 0))
    assert got["reply_p50"] == 0.5 and got["cpu_per_call"] == 1.5
    assert got["bargein_stop_p50"] is None and got["calls_held"] is None  # nothing to divide by
