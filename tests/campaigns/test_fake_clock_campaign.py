"""A campaign submitted at 19:50 recipient-local time on a Friday: what fits is dialed, the rest waits for
09:00 on Monday (across the spring-forward DST change), driven by a fake clock through the real dialer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sdr_agent.campaigns.clock import FakeClock
from sdr_agent.campaigns.dialer import Dialer
from sdr_agent.sim.call_record import CallPlan
from sdr_agent.sim.local_stack import LocalStack
from sdr_agent.sim.twilio_mix import OutcomeMix

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


async def _settle(dialer: Dialer, api: Any, batch_id: str) -> dict[str, Any]:
    """Let the calls under way finish (the clock stands still meanwhile; nothing new is dialed)."""
    for _ in range(200):
        await dialer.reconcile()
        await dialer.update_batches()
        body: dict[str, Any] = (await api.get(f"/v1/convai/batch-calling/{batch_id}")).json()
        if not any(r["status"] in ("dispatched", "initiated", "in_progress") for r in body["recipients"]):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("calls did not finish")


async def test_submit_at_1950_dials_what_fits_and_resumes_monday_0900(manual_stack: LocalStack) -> None:
    stack = manual_stack
    services = stack.app.state.services
    clock = FakeClock(local(NY, 2026, 3, 6, 19, 50))  # Friday; DST starts Sunday 8 March
    services.campaign_clock = clock
    dialer = Dialer(services)
    stack.twilio.set_mix(OutcomeMix({"human": 1}, seed=5, human=CallPlan(hangup_at_s=0.3)))
    agent_id = await stack.create_agent(
        {"name": "Alex", "conversation_config": {"agent": {"first_message": "Hi"}}}
    )
    ny = [f"+1212555{n:04d}" for n in range(6)]  # Manhattan numbers: America/New_York from phonenumbers
    la = ["+14155550100"]  # San Francisco: three hours behind, 16:50 local, open
    response = await stack.api.post(
        "/v1/convai/batch-calling/submit",
        json={
            "call_name": "Friday evening",
            "agent_id": agent_id,
            "target_concurrency_limit": 2,
            "recipients": [{"phone_number": n} for n in ny + la],
        },
    )
    assert response.status_code == 200, response.text
    batch_id = response.json()["id"]

    # Calls take five minutes: at 19:50 and 19:55 two at a time (the limit) fit before 20:00.
    assert (await dialer.tick()).dispatched == 2
    await _settle(dialer, stack.api, batch_id)
    clock.set(local(NY, 2026, 3, 6, 19, 55))
    assert (await dialer.tick()).dispatched == 2
    body = await _settle(dialer, stack.api, batch_id)
    done = [r for r in body["recipients"] if r["status"] == "completed"]
    assert len(done) == 4

    # 20:00:30 in New York: the window has closed there, but it is 17:00 in San Francisco.
    clock.set(local(NY, 2026, 3, 6, 20, 0, 30))
    assert (await dialer.tick()).dispatched == 1
    body = await _settle(dialer, stack.api, batch_id)
    by_number = {r["phone_number"]: r for r in body["recipients"]}
    assert by_number[la[0]]["status"] == "completed"
    waiting = [r for r in body["recipients"] if r["status"] == "pending"]
    assert len(waiting) == 2 and all(r["phone_number"] in ny for r in waiting)
    monday_nine = local(NY, 2026, 3, 9, 9, 0)
    assert monday_nine.astimezone(UTC).hour == 13  # EDT after the change, not EST
    assert {r["next_attempt_at_unix"] for r in waiting} == {int(monday_nine.timestamp())}
    assert {r["timezones"][0] for r in body["recipients"] if r["phone_number"] in ny} == {"America/New_York"}

    # Saturday noon and Monday 08:59: nothing.
    for moment in (local(NY, 2026, 3, 7, 12, 0), local(NY, 2026, 3, 9, 8, 59)):
        clock.set(moment)
        assert (await dialer.tick()).dispatched == 0

    clock.set(monday_nine)
    assert (await dialer.tick()).dispatched == 2
    body = await _settle(dialer, stack.api, batch_id)
    assert {r["status"] for r in body["recipients"]} == {"completed"}
    await dialer.tick()
    assert (await stack.api.get(f"/v1/convai/batch-calling/{batch_id}")).json()["status"] == "completed"
    dials = stack.twilio.dials()
    assert all(dials[n] == 1 for n in ny + la) and sum(dials.values()) == 7
