"""``sdr-agent campaign submit|status|export`` against a running server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sdr_agent.cli import app as cli
from sdr_agent.cli.campaign import parse_when, read_leads
from sdr_agent.sim.call_record import CallPlan
from sdr_agent.sim.local_stack import LocalStack
from sdr_agent.sim.twilio_mix import OutcomeMix
from tests.campaigns.support import all_terminal, wait_for_batch


def test_lead_csv_and_start_time_parsing() -> None:
    leads = read_leads("phone_number,name,company\n+12125550100,Ann,Acme\n(312) 555-0101,Ben,\n")
    assert leads[0] == {
        "phone_number": "+12125550100",
        "conversation_initiation_client_data": {"dynamic_variables": {"name": "Ann", "company": "Acme"}},
    }
    assert leads[1]["conversation_initiation_client_data"]["dynamic_variables"] == {"name": "Ben"}
    with pytest.raises(typer.BadParameter, match="phone_number column"):
        read_leads("number,name\n+12125550100,Ann\n")
    with pytest.raises(typer.BadParameter, match="row 3"):
        read_leads("phone_number,name\n+12125550100,Ann\n,Ben\n")
    assert parse_when("2026-03-09T09:00-05:00") == 1773064800
    with pytest.raises(typer.BadParameter):
        parse_when("2026-03-09T09:00")


async def test_submit_status_export(stack: LocalStack, tmp_path: Path) -> None:
    agent_id = await stack.create_agent(
        {"name": "Alex", "conversation_config": {"agent": {"first_message": "Hi {{name}}"}}}
    )
    stack.twilio.set_mix(OutcomeMix({"human": 1}, seed=4, human=CallPlan(hangup_at_s=0.4)))
    leads = tmp_path / "leads.csv"
    leads.write_text("phone_number,name\n+12025550100,Ann\n+12025550101,Ben\n")
    common = ["--server", stack.base_url, "--api-key", stack.api.headers["xi-api-key"]]
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args))
        return result.exit_code, result.stdout

    window_free = ["--timezone", "Etc/GMT-14"]  # dialed now or waiting for its hours: both show in status
    code, out = await asyncio.to_thread(
        run, "campaign", "submit", agent_id, str(leads), "--concurrency", "2", *window_free, *common
    )
    assert code == 0, out
    batch_id = out.strip().splitlines()[0]
    assert batch_id.startswith("btcal_")
    await wait_for_batch(
        stack.api, batch_id, lambda b: b["status"] != "pending" or all_terminal(b), timeout=5
    )
    code, out = await asyncio.to_thread(run, "campaign", "status", batch_id, "--once", *common)
    assert code == 0 and "+12025550100" in out and "leads" in out
    code, out = await asyncio.to_thread(run, "campaign", "export", batch_id, *common)
    assert code == 0 and out.splitlines()[0].startswith("recipient_id,phone_number,status")
    assert len(out.strip().splitlines()) == 3
    code, out = await asyncio.to_thread(run, "campaign", "status", "btcal_nope", "--once", *common)
    assert code == 1


def test_the_status_table_never_cuts_a_phone_number_on_a_narrow_terminal() -> None:
    from rich.console import Console

    from sdr_agent.cli.campaign_view import outcome_table

    recipient = {
        "phone_number": "+12025550100", "timezones": ["America/New_York", "America/Chicago"],
        "status": "pending", "attempts": 0, "attempt_log": [{"outcome": None, "answered_by": None}],
        "detail": "waiting for calling hours in the most restrictive of its candidate time zones",
    }
    console = Console(width=60, record=True)
    console.print(outcome_table({"id": "btcal_x", "name": "leads", "recipients": [recipient]}))
    assert "+12025550100" in console.export_text()
