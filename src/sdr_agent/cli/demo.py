"""`sdr-agent demo` (= `make demo`): a simulated phone call against the real server.

The server runs on 127.0.0.1 with the embedded offline engines; the Twilio stand-in places the call
through the real outbound API and the `twilio` library, streams the prospect's voice in real time,
echoes marks and honours clear. The transcript prints live with per-turn latency; the stored
conversation is then read back through the API. Exits non-zero when the call did not complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sdr_agent.demo.scenario import (
    CALLER_LINES,
    CLOUD_REPLIES,
    PROSPECT_NUMBER,
    agent_body,
    knowledge_text,
    render_caller_script,
)
from sdr_agent.engines.factory import build_tts
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.cloud_standins import CloudStandIns
from sdr_agent.sim.local_stack import LocalStack, local_stack

console = Console()


def demo(
    timeout: float = typer.Option(110.0, help="Give up on the call after this many seconds."),
    engines: str = typer.Option(
        "offline", help="offline: embedded engines; cloud-standins: Deepgram + Ollama stand-ins on 127.0.0.1."
    ),
    campaign: bool = typer.Option(
        False, "--campaign", help="Run a 12-lead outbound campaign instead, with a live progress view."
    ),
) -> None:
    """Run the simulated call demo and print the transcript with per-turn latency."""
    if campaign:
        from sdr_agent.cli.campaign_demo import run_campaign_demo

        raise typer.Exit(0 if asyncio.run(run_campaign_demo()) else 1)
    if engines not in ("offline", "cloud-standins"):
        raise typer.BadParameter("engines must be 'offline' or 'cloud-standins'")
    ok = asyncio.run(_run(timeout, engines))
    raise typer.Exit(0 if ok else 1)


async def _run(timeout: float, engines: str) -> bool:
    started = time.monotonic()
    console.rule("[bold]sdr-agent demo: a simulated phone call")
    console.print("Rendering the prospect's voice with the offline TTS…")
    script = await render_caller_script(build_tts(TTSSettings()))
    async with contextlib.AsyncExitStack() as resources:
        overrides: dict[str, Any] = {}
        if engines == "cloud-standins":
            cloud = await resources.enter_async_context(
                CloudStandIns(utterances=[line.text for line in CALLER_LINES], replies=CLOUD_REPLIES)
            )
            overrides = cloud.settings_overrides()
        console.print(f"Starting the server ({engines} engines) and the Twilio stand-in on 127.0.0.1…")
        stack = await resources.enter_async_context(local_stack(settings_overrides=overrides))
        return await _call(stack, script, timeout, started)


async def _call(stack: LocalStack, script: CallerScript, timeout: float, started: float) -> bool:
    document_id = await stack.create_document("Acme Cloud fact sheet", knowledge_text())
    agent_id = await stack.create_agent(agent_body(document_id))
    agent = (await stack.api.get(f"/v1/convai/agents/{agent_id}")).json()
    console.print(
        f"Agent [cyan]{agent['agent_id']}[/] '{agent['name']}' read back from the API; first message: "
        f"{agent['conversation_config']['agent']['first_message']!r}"
    )
    number_id = await stack.import_number(agent_id)
    stack.twilio.set_script(PROSPECT_NUMBER, script)
    conversation_id, call_sid = await stack.place_call(
        agent_id, number_id, PROSPECT_NUMBER, {"customer_name": "Jordan"}
    )
    console.print(f"Placed call [cyan]{call_sid}[/] → conversation [cyan]{conversation_id}[/]\n")
    watcher = asyncio.create_task(_print_live(stack, conversation_id))
    try:
        call = await stack.twilio.wait_for_call(call_sid, timeout=timeout)
        conversation = await stack.wait_for_status(conversation_id, {"done", "failed"}, timeout=15.0)
    finally:
        await asyncio.sleep(0.5)
        watcher.cancel()
    _print_summary(conversation, call)
    ok = conversation["status"] == "done" and call.status == "completed" and any(
        t["role"] == "agent" for t in conversation["transcript"]
    )
    verdict = "[bold green]call completed[/]" if ok else "[bold red]call did not complete[/]"
    console.print(f"\nDemo finished in {time.monotonic() - started:.1f} s: {verdict}")
    return ok


async def _print_live(stack: LocalStack, conversation_id: str) -> None:
    shown = 0
    while True:
        await asyncio.sleep(0.3)
        try:
            transcript = (await stack.conversation(conversation_id))["transcript"]
        except Exception as exc:  # the live view is best effort; the final transcript is printed anyway
            console.log(f"[dim]live transcript unavailable for a moment: {exc}[/dim]")
            continue
        for turn in transcript[shown:]:
            console.print(_format_turn(turn))
        shown = len(transcript)


def _format_turn(turn: dict[str, Any]) -> str:
    metrics = turn.get("conversation_turn_metrics") or {}
    who = "[bold magenta]agent [/]" if turn["role"] == "agent" else "[bold blue]caller[/]"
    notes = []
    if metrics.get("latency_ms") is not None:
        notes.append(f"reply {metrics['latency_ms']:.0f} ms")
    if turn.get("interrupted"):
        details = metrics.get("details") or {}
        notes.append(
            f"interrupted: agent stopped sending {metrics.get('bargein_detect_ms')} ms after the caller's "
            f"speech onset, caller stopped hearing it after {details.get('stop_latency_ms')} ms"
        )
    for call in turn.get("tool_calls") or []:
        notes.append(f"tool {call.get('tool_name')}({call.get('params_as_json')})")
    suffix = f"  [dim]({'; '.join(notes)})[/]" if notes else ""
    return f"{turn['time_in_call_secs']:>4}s {who} {turn.get('message') or ''}{suffix}"


def _print_summary(conversation: dict[str, Any], call: Any) -> None:
    table = Table(title="Per-turn latency (caller end-of-speech → first agent audio)")
    for column in ("caller said", "agent audio after (stand-in)", "barge-in stop latency"):
        table.add_column(column)
    latencies = []
    for turn in call.turns:
        latency = turn.response_latency_ms
        if latency is not None and not turn.agent_was_playing:
            latencies.append(latency)
        table.add_row(turn.label, f"{latency:.0f} ms" if latency is not None else "-",
                      f"{turn.stop_latency_ms:.0f} ms" if turn.stop_latency_ms is not None else "-")
    console.print(table)
    if latencies:
        console.print(f"reply latency p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms "
                      f"over {len(latencies)} turns")
    analysis = conversation.get("analysis") or {}
    console.print(f"status: [bold]{conversation['status']}[/], twilio call: {call.status}, "
                  f"duration {conversation['metadata'].get('call_duration_secs')} s")
    if analysis:
        console.print(f"analysis: call_successful={analysis.get('call_successful')}; "
                      f"summary: {analysis.get('transcript_summary')}")
        for key, value in (analysis.get("data_collection_results") or {}).items():
            console.print(f"  {key}: {value.get('value')}")
