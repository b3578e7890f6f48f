"""Per-call counters, reported in the conversation metadata and by the demo/benchmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CallStats:
    frames_in: int = 0
    malformed_frames: int = 0
    engine_errors: int = 0
    bargein_holds: int = 0
    interruptions: int = 0
    resumes: int = 0
    echo_turns_ignored: int = 0
    backchannel_turns_ignored: int = 0
    mark_timeouts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    bargein_detect_ms: list[float] = field(default_factory=list)
    stop_latency_ms: list[float] = field(default_factory=list)
    engine_switches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
