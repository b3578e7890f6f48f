"""What every benchmark shares: percentiles, the machine it ran on, a printed table, one JSON line and
``bench/results/<name>.json``."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"


def ensure_import_paths() -> None:
    """Let ``python bench/<name>.py`` import ``sdr_agent`` (src layout) and ``bench.*`` without installing."""
    for path in (REPO / "src", REPO):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def percentile(samples: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100); None for no samples."""
    ordered = sorted(float(s) for s in samples)
    if not ordered:
        return None
    if not 0.0 <= q <= 100.0:
        raise ValueError("q must be between 0 and 100")
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 2)


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """n, p50, p95, max of a list of numbers (Nones when empty)."""
    return {
        "n": len(samples),
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "max": round(max(samples), 2) if samples else None,
    }


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict[str, Any]:
    """Enough to tell whose numbers these are: CPUs, load, Python, no GPU used."""
    return {
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "gpu": "none used",
        "load_avg_1_5_15": load_average(),
    }


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def format_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))


def write_result(name: str, report: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """``bench/results/<name>.json`` (pretty) and the same report as one JSON line on stdout."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, separators=(",", ":")))
    return path


def target_check(value: float | None, limit: float, *, at_least: bool = False) -> str:
    if value is None:
        return "n/a"
    ok = value >= limit if at_least else value <= limit
    return "met" if ok else "MISSED"


class LoopLagProbe:
    """How late a 10 ms sleep wakes up: the event loop's own view of how busy the process is."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            self.samples.append((time.monotonic() - started - 0.01) * 1000.0)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
