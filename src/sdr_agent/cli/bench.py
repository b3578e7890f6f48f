"""`sdr-agent bench latency|bargein|capacity|rag|peers`: the benchmarks in the checkout's ``bench/`` folder.

Each runs as its own Python process (the benchmarks start servers, engines and subprocesses of their own),
prints a table and one JSON line, and writes ``bench/results/<name>.json``. The exit code is the script's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

app = typer.Typer(help="benchmarks: numbers go to bench/results/*.json", no_args_is_help=True)


def bench_dir() -> Path:
    """``bench/`` of the source checkout this package runs from (``pip install -e .``), else of the cwd."""
    for candidate in (Path(__file__).resolve().parents[3] / "bench", Path.cwd() / "bench"):
        if (candidate / "common.py").is_file():
            return candidate
    raise FileNotFoundError("no bench/ folder: run the benchmarks from a source checkout of sdr-agent")


def _run(script: str, args: list[str]) -> None:
    try:
        path = bench_dir() / script
    except FileNotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    completed = subprocess.run([sys.executable, str(path), *args], check=False)
    raise typer.Exit(completed.returncode)


@app.command()
def latency(
    voices: int = typer.Option(4, min=1, max=4, help="caller voices, one call each"),
    pauses: str = typer.Option("sentence", help="mid-sentence pauses: 'sentence' (cut into the sentence said "
                               "in one go) or 'fragment' (the first part said alone)"),
) -> None:
    """Reply latency, gaps inside replies and cut-offs as a polite caller hears them."""
    _run("latency.py", ["--voices", str(voices), "--pauses", pauses])


@app.command()
def bargein(
    scale: float = typer.Option(1.0, min=0.01, max=5.0, help="corpus size factor"),
    concurrency: int = typer.Option(6, min=1, max=32, help="trials at once"),
) -> None:
    """Barge-in recall, stop latency and false interruptions: energy vs VAD-only vs layered detector."""
    _run("bargein.py", ["--scale", str(scale), "--concurrency", str(concurrency)])


@app.command()
def capacity(
    phases: str = typer.Option("standin,standin-fakevad,offline", help="which engine phases to ramp"),
    settle: float = typer.Option(4.0, min=0.0, help="seconds after adding calls"),
    window: float = typer.Option(12.0, min=2.0, help="seconds measured per level"),
) -> None:
    """Concurrent calls one server process holds before agent audio pacing breaks."""
    _run("capacity.py", ["--phases", phases, "--settle", str(settle), "--window", str(window)])


@app.command()
def peers(
    voices: int = typer.Option(4, min=1, max=4, help="caller voices, one call per stack each"),
    levels: str = typer.Option("1,2,4,6,8,12,16,24", help="capacity ramp levels ('' skips the ramp)"),
    turn: str = typer.Option("default", help="Pipecat's VAD/end of turn: 'default' or 'matched' to ours"),
) -> None:
    """Our server and Pipecat side by side on the same call (`make peers-venv` once installs Pipecat)."""
    if turn not in ("default", "matched"):
        raise typer.BadParameter("takes 'default' or 'matched'", param_hint="--turn")
    _run("peers.py", ["--voices", str(voices), "--levels", levels, "--turn", turn])


@app.command()
def soak(
    calls: int = typer.Option(0, min=0, help="concurrent calls (0: 80 % of the measured stand-in capacity)"),
    minutes: float = typer.Option(30.0, min=0.5, help="how long the load is held"),
    call_seconds: float = typer.Option(60.0, min=10.0, help="mean call length; ended calls are replaced"),
) -> None:
    """Constant load over time: server RSS growth after warm-up, calls lost, every conversation stored."""
    args = ["--minutes", str(minutes), "--call-seconds", str(call_seconds)]
    _run("soak.py", [*args, "--calls", str(calls)] if calls else args)


@app.command()
def rag(
    products: int = typer.Option(1000, min=1, help="10 chunks each (1000 → 10k chunks)"),
    questions: int = typer.Option(200, min=1, help="generated questions"),
) -> None:
    """Knowledge-base retrieval: top-3 latency incl. embedding and recall@3 over 10k chunks."""
    _run("rag.py", ["--products", str(products), "--questions", str(questions)])
