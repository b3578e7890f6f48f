"""Metrics of several worker processes on one machine (``sdr-agent serve --workers N``).

Counters, histograms and gauges made with ``prometheus_client`` are shared by its multiprocess mode: with
``PROMETHEUS_MULTIPROC_DIR`` set before the library is imported, every worker writes its values to files
there and ``MultiProcessCollector`` sums them. What this app computes from live objects at scrape time
(active calls, the counters of calls still running, calls ended, engine fallbacks) is not in those files,
so each worker also writes a snapshot of it (``live-<pid>.json``, replaced atomically) at every scrape it
answers, at every call end and every second; whichever worker answers ``/metrics`` sums the snapshots. A
worker that exited keeps its counters (they are totals) but no longer counts its active calls.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "live-"
SNAPSHOT_INTERVAL_S = 1.0


def multiprocess_dir() -> Path | None:
    """The shared metrics directory when this process is one of several workers, else None."""
    value = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return Path(value) if value else None


@dataclass
class LiveSnapshot:
    """One worker's scrape-time values. ``fallbacks`` keys are ``kind\\0from\\0to``."""

    pid: int
    active: int = 0
    ended: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    fallbacks: dict[str, int] = field(default_factory=dict)

    def write(self, directory: Path) -> None:
        path = directory / f"{_PREFIX}{self.pid}.json"
        tmp = directory / f".{_PREFIX}{self.pid}.tmp"
        try:
            tmp.write_text(json.dumps(asdict(self)))
            os.replace(tmp, path)  # readers see the old or the new file, never half of one
        except OSError:
            log.warning("could not write the metrics snapshot %s", path, exc_info=True)


def read_snapshots(directory: Path, own_pid: int) -> list[LiveSnapshot]:
    """Every worker's latest snapshot, other than ``own_pid`` (the caller adds its fresh one)."""
    found: list[LiveSnapshot] = []
    for path in directory.glob(f"{_PREFIX}*.json"):
        try:
            data = json.loads(path.read_text())
            snapshot = LiveSnapshot(
                pid=int(data["pid"]), active=int(data["active"]), ended=int(data["ended"]),
                totals={str(k): int(v) for k, v in dict(data["totals"]).items()},
                fallbacks={str(k): int(v) for k, v in dict(data["fallbacks"]).items()},
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a file being replaced or a stray one: the next scrape reads it
        if snapshot.pid == own_pid:
            continue
        if not _alive(snapshot.pid):
            snapshot.active = 0
        found.append(snapshot)
    return found


def combine(snapshots: list[LiveSnapshot]) -> LiveSnapshot:
    total = LiveSnapshot(pid=0)
    for snap in snapshots:
        total.active += snap.active
        total.ended += snap.ended
        for key, value in snap.totals.items():
            total.totals[key] = total.totals.get(key, 0) + value
        for key, value in snap.fallbacks.items():
            total.fallbacks[key] = total.fallbacks.get(key, 0) + value
    return total


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_worker_gone(directory: Path, pid: int) -> None:
    """Drop this worker's live-only gauges (``prometheus_client``'s ``live*`` modes) as it exits."""
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    except Exception:
        log.debug("mark_process_dead failed", exc_info=True)
