"""Capacity bench: pacing jitter, dropouts, the pass rule, and reading /proc."""

from __future__ import annotations

import os
from typing import Any

import pytest
from bench.capacity import level_passed
from bench.capacity_measure import dropouts, pacing_jitter, process_cpu_seconds, process_rss_mb


def paced(start: float, frames: int) -> list[float]:
    """What the paced player sends: its 60 ms lead at once (4 frames), then one frame every 20 ms."""
    return [start] * 4 + [start + 20.0 * (i + 1) for i in range(frames - 4)]


def test_steady_pacing_has_no_jitter_and_the_lead_burst_is_ignored() -> None:
    samples = pacing_jitter(paced(1000.0, 50) + paced(5000.0, 30))
    assert len(samples) == (50 - 4 - 1) + (30 - 4 - 1)
    assert max(samples) == pytest.approx(0.0)


def test_a_late_frame_shows_as_jitter_either_side() -> None:
    arrivals = paced(0.0, 20)
    arrivals[10] += 15.0
    samples = sorted(pacing_jitter(arrivals), reverse=True)
    assert samples[:2] == [pytest.approx(15.0), pytest.approx(15.0)]


def test_dropouts_are_short_holes_not_turn_boundaries() -> None:
    played = [20.0 * t for t in [*range(0, 50), *range(52, 100), *range(400, 450)]]
    assert dropouts(played) == (1, 2)
    assert dropouts([]) == (0, 0)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"jitter_ms": {"p99": 12.0}, "frames_played": 10_000, "dropped_frames": 5,
                            "calls_lost": 0}
    base.update(overrides)
    return base


def test_pass_rule() -> None:
    assert level_passed(row())
    assert not level_passed(row(jitter_ms={"p99": 20.5}))
    assert not level_passed(row(dropped_frames=11))
    assert not level_passed(row(calls_lost=1))
    assert not level_passed(row(frames_played=0, dropped_frames=0))
    assert not level_passed(row(jitter_ms={"p99": None}))


def test_reads_this_process_from_proc() -> None:
    assert process_cpu_seconds(os.getpid()) > 0
    assert process_rss_mb(os.getpid()) > 10
