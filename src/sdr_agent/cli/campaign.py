"""``sdr-agent campaign submit|status|export``: batch calls through a running server.

``submit AGENT_ID leads.csv`` reads a CSV whose ``phone_number`` column is the number and whose other
columns are the agent's dynamic variables (``name``, ``company``...), and posts it to
``/v1/convai/batch-calling/submit``. ``status ID`` follows the campaign live; ``export ID`` writes its CSV.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.live import Live

from sdr_agent.cli.call import _api_key, _detail
from sdr_agent.cli.campaign_view import finished, outcome_table, progress_view
from sdr_agent.settings import get_settings

app = typer.Typer(help="Outbound campaigns (batch calls): submit a lead list, follow it, export results.")
console = Console(stderr=True)

ServerOption = typer.Option(
    "http://127.0.0.1:8000", "--server", envvar="SDR_SERVER_URL", help="running server"
)
KeyOption = typer.Option(None, "--api-key", help="defaults to the first key of SDR_API_KEYS")


def read_leads(text: str) -> list[dict[str, Any]]:
    """CSV → recipients; raises typer.BadParameter naming the row."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    if "phone_number" not in fields:
        raise typer.BadParameter("the CSV needs a phone_number column", param_hint="LEADS_CSV")
    recipients: list[dict[str, Any]] = []
    for line, row in enumerate(reader, start=2):
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        number = values.pop("phone_number", "")
        if not number:
            raise typer.BadParameter(f"row {line}: phone_number is empty", param_hint="LEADS_CSV")
        lead_id = values.pop("id", "") or None
        variables = {k: v for k, v in values.items() if v != ""}
        recipient: dict[str, Any] = {
            "phone_number": number,
            "conversation_initiation_client_data": {"dynamic_variables": variables},
        }
        if lead_id:
            recipient["id"] = lead_id
        recipients.append(recipient)
    if not recipients:
        raise typer.BadParameter("the CSV has no leads", param_hint="LEADS_CSV")
    return recipients


def parse_when(value: str | None) -> int | None:
    """``--at``: unix seconds or an ISO 8601 time with its offset (``2026-03-09T09:00-05:00``)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is neither unix seconds nor ISO 8601", param_hint="--at"
        ) from exc
    if when.tzinfo is None:
        raise typer.BadParameter("give the time zone offset, e.g. 2026-03-09T09:00-05:00", param_hint="--at")
    return int(when.timestamp())


def _client(server: str, api_key: str | None) -> httpx.Client:
    key = _api_key(api_key, get_settings())
    return httpx.Client(
        base_url=server.rstrip("/"), headers={"xi-api-key": key}, timeout=30.0, trust_env=False
    )


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[bold red]error:[/] could not reach the server ({type(exc).__name__}); is it up?")
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        console.print(f"[bold red]error {response.status_code}:[/] {_detail(response)}")
        raise typer.Exit(1)
    return response


@app.command("submit")
def submit(
    agent_id: str = typer.Argument(..., help="agent that makes the calls"),
    leads: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: phone_number, then variables"),
    at: str | None = typer.Option(None, "--at", help="start time (unix or ISO 8601 with offset)"),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, max=1000, help="calls at once"),
    name: str | None = typer.Option(None, "--name", help="campaign name (default: the file name)"),
    timezone: str | None = typer.Option(None, "--timezone", help="every lead's zone (default: from number)"),
    phone_number_id: str | None = typer.Option(
        None, "--phone-number-id", help="imported number to call from"
    ),
    voicemail: bool = typer.Option(False, "--voicemail", help="Twilio AMD: leave the agent's voicemail"),
    server: str = ServerOption,
    api_key: str | None = KeyOption,
) -> None:
    """Submit a lead list as a batch call."""
    body: dict[str, Any] = {
        "call_name": name or leads.stem,
        "agent_id": agent_id,
        "recipients": read_leads(leads.read_text(encoding="utf-8-sig")),
    }
    optional = {
        "scheduled_time_unix": parse_when(at),
        "target_concurrency_limit": concurrency,
        "timezone": timezone,
        "agent_phone_number_id": phone_number_id,
        "telephony_call_config": (
            {"twilio_machine_detection": {"mode": "detect_message_end"}} if voicemail else None
        ),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    with _client(server, api_key) as client:
        result = _call(client, "POST", "/v1/convai/batch-calling/submit", json=body).json()
    typer.echo(result["id"])
    console.print(
        f"submitted {result['total_calls_scheduled']} leads as [bold]{result['id']}[/] "
        f"(follow it: sdr-agent campaign status {result['id']})"
    )


@app.command("status")
def status(
    batch_id: str = typer.Argument(..., help="batch call id"),
    watch: bool = typer.Option(True, "--watch/--once", help="follow live until the campaign ends"),
    interval: float = typer.Option(1.0, min=0.2, help="seconds between refreshes"),
    server: str = ServerOption,
    api_key: str | None = KeyOption,
) -> None:
    """Show a campaign's progress (live), then its outcome table."""
    out = Console()
    with _client(server, api_key) as client:
        path = f"/v1/convai/batch-calling/{batch_id}"
        body = _call(client, "GET", path).json()
        if watch and not finished(body):
            with Live(progress_view(body), console=out, refresh_per_second=4) as live:
                while not finished(body):
                    time.sleep(interval)
                    body = _call(client, "GET", path).json()
                    live.update(progress_view(body))
        else:
            out.print(progress_view(body))
    out.print(outcome_table(body))


@app.command("export")
def export(
    batch_id: str = typer.Argument(..., help="batch call id"),
    output: Path | None = typer.Option(None, "-o", "--output", help="file (default: stdout)"),
    server: str = ServerOption,
    api_key: str | None = KeyOption,
) -> None:
    """Write the campaign's recipients and call results as CSV."""
    with _client(server, api_key) as client:
        text = _call(client, "GET", f"/v1/convai/batch-calling/{batch_id}/export").text
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
