"""``sdr-agent eval conversations``: the conversation-quality eval anyone can run.

Text conversations go through the same dialogue layer a phone call uses (``build_dialogue``, the real
knowledge store and embedder, the LLM the settings choose — the offline grounded responder by default).
It prints a table and writes ``bench/results/conversations.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Quality evals.", no_args_is_help=True)
DEFAULT_OUTPUT = Path("bench/results/conversations.json")


async def run_eval(
    scenario_ids: list[str] | None = None, data_dir: Path | None = None, llm: Any = None
) -> dict[str, Any]:
    """Run the scenarios (all, or those whose id starts with one of ``scenario_ids``); returns the report."""
    from sdr_agent.engines.factory import build_llm
    from sdr_agent.evals.report import failures, summary
    from sdr_agent.evals.runner import EvalKnowledge, run_scenario
    from sdr_agent.evals.scenarios import load_scenarios
    from sdr_agent.knowledge.embedder import shared_embedder
    from sdr_agent.settings import get_settings

    scenarios = load_scenarios(data_dir)
    if scenario_ids:
        scenarios = [s for s in scenarios if any(s.id.startswith(prefix) for prefix in scenario_ids)]
    model = llm if llm is not None else build_llm(get_settings().llm)
    embedder = shared_embedder()
    knowledge = EvalKnowledge(embedder)
    started = time.perf_counter()
    try:
        results = [await run_scenario(s, model, knowledge, embedder) for s in scenarios]
    finally:
        knowledge.close()
        closer = getattr(model, "aclose", None)
        if closer is not None and llm is None:
            await closer()
    return {
        "llm": getattr(model, "name", type(model).__name__),
        "summary": summary(results),
        "failures": failures(results),
        "seconds": round(time.perf_counter() - started, 2),
        "loadavg": list(os.getloadavg()),
        "conversations": [
            {
                "scenario": r.id,
                "product": r.product,
                "held_out": r.held_out,
                "metadata": r.metadata,
                "turns": [
                    {
                        "caller": t.caller,
                        "agent": t.reply,
                        "action": t.action,
                        "expected_action": t.expected_action,
                        "relevant": t.relevant,
                        "facts_ok": t.facts_ok,
                    }
                    for t in r.turns
                ],
            }
            for r in results
        ],
    }


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Conversation eval ({report['llm']})")
    for column in (
        "set",
        "scenarios",
        "caller turns",
        "relevant %",
        "facts right %",
        "invented claims",
        "repeated sentences",
        "correct action %",
    ):
        table.add_column(column)
    rows = [("all", report["summary"]["all"]), ("tuned products", report["summary"]["tuned_products"])]
    if report["summary"]["held_out_products"]:
        rows.append(("held-out product", report["summary"]["held_out_products"]))
    rows += [(f"  {name}", totals) for name, totals in report["summary"]["by_product"].items()]
    for name, t in rows:
        table.add_row(
            name,
            str(t["scenarios"]),
            str(t["caller_turns"]),
            f"{t['relevant_pct']:.1f}",
            f"{t['facts_right_pct']:.1f}",
            str(t["invented_claims"]),
            str(t["repeated_sentences"]),
            f"{t['correct_action_pct']:.1f}",
        )
    return table


@app.command("conversations")
def conversations(
    output: Path = typer.Option(DEFAULT_OUTPUT, help="Where to write the JSON report."),
    scenario: list[str] = typer.Option(None, "--scenario", help="Only scenarios whose id starts with this."),
    data: Path = typer.Option(None, help="A folder of scenario JSON files instead of the bundled ones."),
    show_failures: bool = typer.Option(True, help="Print every turn that missed a label."),
) -> None:
    """Run the conversation eval and report relevant %, facts right %, invented claims, repeats, actions."""
    console = Console()
    report = asyncio.run(run_eval(scenario or None, data))
    console.print(_table(report))
    timing = report["summary"]["first_text_ms"]
    console.print(f"first words ready p50 {timing['p50']} ms, p95 {timing['p95']} ms "
                  f"(load average {report['loadavg'][0]:.1f}; a timing to read, not a target)")
    if show_failures:
        for item in report["failures"]:
            console.print(
                f"[yellow]{item['scenario']}#{item['turn']}[/] {item['problems']}\n"
                f"  caller: {item['caller']}\n  agent:  {item['reply']}"
            )
    if scenario and output == DEFAULT_OUTPUT:
        output = output.with_name("conversations-partial.json")  # a subset never replaces the full results
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    summary = report["summary"]["all"]
    console.print(f"wrote {output}")
    print(json.dumps({"bench": "conversations", **summary, "loadavg": report["loadavg"]}))
