"""What the capacity bench measures, as pure functions over what the Twilio stand-in recorded, plus reading a
process's CPU time and memory from /proc.

- pacing jitter: inside each run of agent media messages (arrivals less than ``RUN_GAP_MS`` apart), after the
  paced lead that is sent at once, how far each gap between two frames is from 20 ms;
- dropouts: agent frames that should have been playing but were not — a hole of 1–10 ticks inside the
  agent's speech as the caller's phone played it (longer holes are turn boundaries and pauses).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path

FRAME_MS = 20.0
RUN_GAP_MS = 100.0
LEAD_BURST_FRAMES = 4  # the paced player sends its lead (60 ms = 3 frames) at once, then one per 20 ms
MAX_DROPOUT_TICKS = 10


def pacing_jitter(arrivals_ms: Iterable[float]) -> list[float]:
    """|gap − 20 ms| for consecutive agent frames in steady playback."""
    times = sorted(arrivals_ms)
    samples: list[float] = []
    run: list[float] = []
    for t in [*times, float("inf")]:
        if run and t - run[-1] > RUN_GAP_MS:
            steady = run[LEAD_BURST_FRAMES:]
            samples += [abs((b - a) - FRAME_MS) for a, b in itertools.pairwise(steady)]
            run = []
        run.append(t)
    return samples


def dropouts(played_ms: Iterable[float]) -> tuple[int, int]:
    """(holes, missing frames) in the played agent audio: gaps of 1..MAX_DROPOUT_TICKS ticks."""
    ticks = sorted({round(t / FRAME_MS) for t in played_ms})
    holes = missing = 0
    for a, b in itertools.pairwise(ticks):
        gap = b - a - 1
        if 1 <= gap <= MAX_DROPOUT_TICKS:
            holes += 1
            missing += gap
    return holes, missing


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise ValueError(f"no VmRSS for process {pid}")
