"""Totals of a conversation-eval run: relevant %, facts right %, invented claims, repeated sentences, correct
actions % — overall, per product and for the held-out product on its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sdr_agent.evals.runner import ScenarioResult


@dataclass(frozen=True, slots=True)
class Totals:
    scenarios: int
    caller_turns: int
    relevant_pct: float
    facts_right_pct: float
    fact_turns: int
    invented_claims: int
    repeated_sentences: int
    correct_action_pct: float

    def meets_targets(self) -> bool:
        return (
            self.relevant_pct >= 90.0
            and self.facts_right_pct >= 90.0
            and self.invented_claims == 0
            and self.repeated_sentences == 0
            and self.correct_action_pct >= 95.0
        )


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 100.0


def totals(results: Sequence[ScenarioResult]) -> Totals:
    turns = [t for r in results for t in r.turns]
    fact_turns = [t for t in turns if t.facts_ok is not None]
    return Totals(
        scenarios=len(results),
        caller_turns=len(turns),
        relevant_pct=_pct(sum(t.relevant for t in turns), len(turns)),
        facts_right_pct=_pct(sum(bool(t.facts_ok) for t in fact_turns), len(fact_turns)),
        fact_turns=len(fact_turns),
        invented_claims=sum(len(t.invented) for t in turns),
        repeated_sentences=sum(len(r.repeated) for r in results),
        correct_action_pct=_pct(sum(t.action == t.expected_action for t in turns), len(turns)),
    )


def failures(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for result in results:
        for index, turn in enumerate(result.turns):
            problems = []
            if not turn.relevant:
                problems.append("not relevant")
            if turn.missing_facts:
                problems.append(f"missing facts {turn.missing_facts}")
            if turn.forbidden:
                problems.append(f"said {turn.forbidden}")
            if turn.invented:
                problems.append(f"invented {turn.invented}")
            if turn.action != turn.expected_action:
                problems.append(f"action {turn.action} != {turn.expected_action}")
            if problems:
                out.append(
                    {
                        "scenario": result.id,
                        "turn": index,
                        "caller": turn.caller,
                        "reply": turn.reply,
                        "problems": problems,
                    }
                )
        for sentence in result.repeated:
            out.append(
                {
                    "scenario": result.id,
                    "turn": None,
                    "caller": "",
                    "reply": sentence,
                    "problems": ["repeated sentence"],
                }
            )
    return out


def first_text_ms(results: Sequence[ScenarioResult]) -> dict[str, float | None]:
    """How long the dialogue took to have its first words ready (a timing, for reading, never asserted)."""
    times = sorted(t.first_text_ms for r in results for t in r.turns if t.first_text_ms is not None)
    if not times:
        return {"p50": None, "p95": None}
    return {
        "p50": round(times[len(times) // 2], 1),
        "p95": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
    }


def summary(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    products = sorted({r.product for r in results})
    tuned = [r for r in results if not r.held_out]
    held = [r for r in results if r.held_out]
    return {
        "all": asdict(totals(results)),
        "tuned_products": asdict(totals(tuned)),
        "held_out_products": asdict(totals(held)) if held else None,
        "by_product": {p: asdict(totals([r for r in results if r.product == p])) for p in products},
        "products": products,
        "held_out": sorted({r.product for r in held}),
        "first_text_ms": first_text_ms(results),
    }
