"""A slice of the conversation eval in the default test run, so a regression in what the agent says fails CI.

The slice runs real scenarios (one per move that matters: KB facts with a quantity, booking only after a
confirmed yes, opt-out, AI disclosure, hostility, gatekeeper, voicemail, another language, objections) through
the same dialogue layer, knowledge store and embedder a call uses. The full run is ``sdr-agent eval
conversations``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdr_agent.cli.eval import run_eval
from sdr_agent.evals.runner import score_turn
from sdr_agent.evals.scenarios import CallerTurn, ScenarioError, load_scenarios, parse_product_file

SLICE = [
    "paycove-price-for-50",
    "paycove-unknown-and-ai",
    "paycove-opt-out",
    "paycove-voicemail",
    "paycove-spanish",
    "voltway-hostile",
    "voltway-busy-callback",
    "smilekit-receptionist",
    "paycove-competitor-and-price",
]


@pytest.fixture(scope="module")
def report() -> dict:  # type: ignore[type-arg]
    import asyncio

    return asyncio.run(run_eval(SLICE))


def test_the_slice_meets_the_targets(report: dict) -> None:  # type: ignore[type-arg]
    totals = report["summary"]["all"]
    assert totals["scenarios"] == len(SLICE)
    problems = json.dumps(report["failures"], indent=1)
    assert totals["invented_claims"] == 0, problems
    assert totals["repeated_sentences"] == 0, problems
    assert totals["correct_action_pct"] >= 95.0, problems
    assert totals["relevant_pct"] >= 90.0, problems
    assert totals["facts_right_pct"] >= 90.0, problems


def test_opt_out_is_on_the_conversation_record(report: dict) -> None:  # type: ignore[type-arg]
    conversation = next(c for c in report["conversations"] if c["scenario"] == "paycove-opt-out")
    opt_out = conversation["metadata"]["opt_out"]
    assert "remove this number" in opt_out["phrase"].lower()
    assert isinstance(opt_out["time_in_call_secs"], float)


def test_bundled_scenarios_are_big_enough_and_well_formed() -> None:
    scenarios = load_scenarios()
    products = {s.product.id for s in scenarios}
    assert len(scenarios) >= 20 and sum(len(s.turns) for s in scenarios) >= 80
    assert len(products - {"acme"}) >= 3 and any(s.product.held_out for s in scenarios)
    assert {t.action for s in scenarios for t in s.turns} >= {"end_call", "voicemail", "book_meeting", "none"}


def test_scoring_catches_each_kind_of_miss() -> None:
    turn = CallerTurn("How much?", ("$6 per employee",), (("price", "cost"),), ("50 states",), "none")
    good = score_turn(turn, "It costs 6 dollars per employee per month.", "none", "$6 per employee")
    assert good.relevant and good.facts_ok and not good.invented
    wrong = score_turn(
        turn, "We run payroll in all 50 states at $9 per user.", "end_call", "$6 all 50 states"
    )
    assert not wrong.relevant and wrong.facts_ok is False and wrong.forbidden == ["50 states"]
    assert wrong.invented and wrong.action != wrong.expected_action


def test_bad_scenario_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError):
        parse_product_file({"product": {"id": "x"}}, "x.json")
    product = {"id": "x", "agent_name": "A", "first_message": "Hi", "prompt": "p", "kb": "k"}
    with pytest.raises(ScenarioError):  # a turn without labels cannot be scored honestly
        parse_product_file({"product": product, "scenarios": [{"turns": [{"caller": "hi"}]}]}, "x.json")
    with pytest.raises(ScenarioError):
        parse_product_file(
            {
                "product": product,
                "scenarios": [{"turns": [{"caller": "hi", "any": [["hello"]], "action": "dance"}]}],
            },
            "x.json",
        )


def test_the_cli_prints_the_table_and_writes_the_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sdr_agent.cli import app

    output = tmp_path / "conversations.json"
    result = CliRunner().invoke(
        app, ["eval", "conversations", "--scenario", "voltway-wrong", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "relevant" in result.output and '"bench": "conversations"' in result.output
    report = json.loads(output.read_text())
    assert report["summary"]["all"]["scenarios"] == 1 and report["llm"] == "grounded"
