"""`sdr-agent bench ...` finds the checkout's bench/ folder and passes its options through."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sdr_agent.cli import app
from sdr_agent.cli import bench as bench_cli


def test_bench_dir_is_the_checkouts() -> None:
    assert (bench_cli.bench_dir() / "latency.py").is_file()


@pytest.mark.parametrize(
    ("argv", "script", "passed"),
    [
        (["latency", "--voices", "2"], "latency.py", ["--voices", "2", "--pauses", "sentence"]),
        (["latency", "--pauses", "fragment"], "latency.py", ["--voices", "4", "--pauses", "fragment"]),
        (["bargein", "--scale", "0.5"], "bargein.py", ["--scale", "0.5", "--concurrency", "6"]),
        (["capacity", "--phases", "standin"], "capacity.py",
         ["--phases", "standin", "--settle", "4.0", "--window", "12.0"]),
        (["rag", "--products", "10"], "rag.py", ["--products", "10", "--questions", "200"]),
    ],
)
def test_commands_run_their_script_with_the_options(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], script: str, passed: list[str]
) -> None:
    seen: list[list[str]] = []

    def fake_run(command: list[str], check: bool) -> Any:
        seen.append(command)
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(bench_cli.subprocess, "run", fake_run)
    result = CliRunner().invoke(app, ["bench", *argv])
    assert result.exit_code == 3  # the script's exit code
    assert Path(seen[0][1]).name == script and seen[0][2:] == passed


def test_bad_options_are_refused_before_running_anything() -> None:
    result = CliRunner().invoke(app, ["bench", "latency", "--voices", "0"])
    assert result.exit_code == 2


def test_missing_bench_folder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def nowhere() -> Path:
        raise FileNotFoundError("no bench/ folder: run the benchmarks from a source checkout of sdr-agent")

    monkeypatch.setattr(bench_cli, "bench_dir", nowhere)
    result = CliRunner().invoke(app, ["bench", "rag"])
    assert result.exit_code == 2 and "source checkout" in result.output
