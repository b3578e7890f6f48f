"""A seedable mix of what a campaign meets: people, busy lines, no answer, failures, answering machines.

Each call's plan is drawn from a generator seeded by (seed, number, n-th call to that number), so a run is
reproducible whatever order the dialer places calls in, and a retry of the same number can go differently.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sdr_agent.sim.call_record import CallPlan

KINDS = ("human", "busy", "no_answer", "failed", "machine")


@dataclass(frozen=True, slots=True)
class OutcomeMix:
    weights: Mapping[str, float] = field(default_factory=lambda: {"human": 1.0})
    seed: int = 0
    # The plans the answered kinds start from (caller script, hang-up time, greeting length).
    human: CallPlan = field(default_factory=lambda: CallPlan(hangup_at_s=1.0))
    machine: CallPlan = field(
        default_factory=lambda: CallPlan(answered_by="machine", greeting_ms=1200, hangup_at_s=15.0)
    )
    ring_ms: int = 50

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(KINDS)
        if unknown or not any(w > 0 for w in self.weights.values()):
            raise ValueError(
                f"mix weights need some of {KINDS} with a positive weight, got {dict(self.weights)}"
            )

    def kind_for(self, to: str, nth: int) -> str:
        rng = random.Random(f"{self.seed}:{to}:{nth}")
        kinds = [k for k in KINDS if self.weights.get(k, 0) > 0]
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    def plan_for(self, to: str, nth: int) -> CallPlan:
        kind = self.kind_for(to, nth)
        if kind == "human":
            return replace(self.human, ring_ms=self.ring_ms)
        if kind == "machine":
            return replace(self.machine, ring_ms=self.ring_ms)
        outcome = {"busy": "busy", "no_answer": "no-answer", "failed": "failed"}[kind]
        return CallPlan(outcome=outcome, ring_ms=self.ring_ms)  # type: ignore[arg-type]
