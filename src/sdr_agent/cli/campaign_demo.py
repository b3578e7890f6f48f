"""``sdr-agent demo --campaign``: a small campaign against the Twilio stand-in, with a live progress view.

12 leads in three US time zones: two answering machines (Twilio AMD, the agent leaves its voicemail), one
busy line (retried, then failed), one number on the do-not-call list (never dialed), the rest people who
listen to the opener and hang up. The dialer runs on a clock pinned to a Tuesday afternoon in New York, so
the demo shows the same calling-hours decisions whenever it is run.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.live import Live

from sdr_agent.campaigns.clock import FakeClock
from sdr_agent.cli.campaign_view import finished, outcome_table, progress_view
from sdr_agent.sim.call_record import CallPlan
from sdr_agent.sim.local_stack import LocalStack, local_stack
from sdr_agent.sim.twilio_mix import OutcomeMix

console = Console()
DEMO_NOW = datetime(2026, 3, 10, 14, 0, tzinfo=ZoneInfo("America/New_York"))
FAST_ENGINES: dict[str, Any] = {
    "stt": {"provider": "fake", "fallback": "none"},
    "tts": {"provider": "fake", "fallback": "none"},
    "llm": {"provider": "fake", "fallback": "none"},
    "vad": {"provider": "fake"},
    "analysis": {"method": "rules"},
    "campaigns": {"tick_interval_s": 0.2},
}
AREAS = {"212": "New York", "312": "Chicago", "415": "San Francisco"}
NAMES = [
    "Avery",
    "Blake",
    "Casey",
    "Devon",
    "Emery",
    "Finley",
    "Gray",
    "Harper",
    "Indy",
    "Jules",
    "Kai",
    "Logan",
]
VOICEMAIL = "Hi {{name}}, Alex from Acme Cloud. I'll try you again."
MACHINES = (4, 8)
BUSY = 2
SUPPRESSED = 10


def leads() -> list[tuple[str, str]]:
    areas = list(AREAS)
    return [(f"+1{areas[i % 3]}555{100 + i:04d}", NAMES[i]) for i in range(12)]


async def run_campaign_demo(timeout: float = 90.0) -> bool:
    started = time.monotonic()
    console.rule("[bold]sdr-agent demo: an outbound campaign")
    console.print("Starting the server (scripted engines) and the Twilio stand-in on 127.0.0.1…")
    async with local_stack(settings_overrides=FAST_ENGINES) as stack:
        stack.app.state.services.campaign_clock = FakeClock(DEMO_NOW)
        batch_id = await _submit(stack)
        body = await _follow(stack, batch_id, timeout)
        console.print(outcome_table(body))
        dials = stack.twilio.dials()
        console.print(
            f"The stand-in placed {sum(dials.values())} calls to {len(dials)} numbers; "
            f"{leads()[SUPPRESSED][0]} (do-not-call) was never dialed: {leads()[SUPPRESSED][0] not in dials}."
        )
        console.print(f"[dim]{time.monotonic() - started:.1f} s[/]")
        return finished(body)


async def _submit(stack: LocalStack) -> str:
    agent = await stack.create_agent(
        {
            "name": "Alex",
            "conversation_config": {
                "agent": {
                    "first_message": "Hi {{name}}, this is Alex from Acme Cloud. Do you have a minute?",
                    "prompt": {
                        "prompt": "You are Alex, an SDR for Acme Cloud.",
                        "built_in_tools": {
                            "voicemail_detection": {
                                "name": "voicemail_detection",
                                "params": {
                                    "system_tool_type": "voicemail_detection",
                                    "voicemail_message": VOICEMAIL,
                                },
                            }
                        },
                    },
                }
            },
        }
    )
    numbers = leads()
    for index in MACHINES:
        stack.twilio.set_script(numbers[index][0], answered_by="machine", greeting_ms=800, hangup_at_s=20)
    stack.twilio.set_script(numbers[BUSY][0], outcome="busy")
    stack.twilio.set_mix(OutcomeMix({"human": 1}, seed=13, human=CallPlan(hangup_at_s=1.5), ring_ms=300))
    await stack.api.post(
        "/v1/convai/suppression-list",
        json={"phone_number": numbers[SUPPRESSED][0], "reason": "asked not to be called"},
    )
    response = await stack.api.post(
        "/v1/convai/batch-calling/submit",
        json={
            "call_name": "Demo: Q2 outreach",
            "agent_id": agent,
            "target_concurrency_limit": 3,
            "recipients": [
                {
                    "phone_number": number,
                    "conversation_initiation_client_data": {"dynamic_variables": {"name": n}},
                }
                for number, n in numbers
            ],
            "telephony_call_config": {"twilio_machine_detection": {"mode": "detect_message_end"}},
            "retry_policy": {"max_attempts": 2, "min_delay_secs": 0},
        },
    )
    response.raise_for_status()
    console.print(
        f"Submitted 12 leads ({', '.join(AREAS.values())}) at {DEMO_NOW:%A %H:%M} New York time, "
        "3 calls at a time."
    )
    return str(response.json()["id"])


async def _follow(stack: LocalStack, batch_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body = (await stack.api.get(f"/v1/convai/batch-calling/{batch_id}")).json()
    with Live(progress_view(body), console=console, refresh_per_second=8) as live:
        while not finished(body) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            body = (await stack.api.get(f"/v1/convai/batch-calling/{batch_id}")).json()
            live.update(progress_view(body))
    return dict(body)
