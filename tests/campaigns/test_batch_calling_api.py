"""Batch calling through the official SDK, bad input, and the suppression-list API."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.types import OutboundCallRecipient

from sdr_agent.sim.call_record import CallPlan
from sdr_agent.sim.local_stack import LocalStack
from tests.campaigns.support import OPEN_WINDOW, open_zone_now, us_number, wait_for_batch

pytestmark = pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning")

AGENT = {"name": "Alex", "conversation_config": {"agent": {"first_message": "Hi {{name}}, it's Alex."}}}


def _sdk(stack: LocalStack) -> ElevenLabs:
    key = stack.api.headers["xi-api-key"]
    return ElevenLabs(api_key=key, base_url=stack.base_url, timeout=10)


def _recipient(n: int, name: str) -> OutboundCallRecipient:
    return OutboundCallRecipient(
        id=f"lead-{n}",
        phone_number=us_number(n),
        conversation_initiation_client_data={"dynamic_variables": {"name": name}},  # type: ignore[arg-type]
    )


async def test_sdk_create_list_get_cancel_retry(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    for n in (1, 2):
        stack.twilio.set_script(us_number(n), outcome="busy")
    client = _sdk(stack).conversational_ai.batch_calls
    later = int(time.time()) + 7 * 86400

    def first_round() -> tuple[Any, Any, Any, Any]:
        scheduled = client.create(
            call_name="Next week",
            agent_id=agent_id,
            recipients=[_recipient(10, "Ann"), _recipient(11, "Ben")],
            scheduled_time_unix=later,
            timezone="America/New_York",
            target_concurrency_limit=3,
            telephony_call_config={  # type: ignore[arg-type]
                "ringing_timeout_secs": 25,
                "twilio_machine_detection": {
                    "mode": "detect_message_end",
                    "actions": [{"action": "hang_up", "answered_by": ["fax"]}],
                },
            },
        )
        now = client.create(
            call_name="Busy lines",
            agent_id=agent_id,
            recipients=[_recipient(1, "Cat"), _recipient(2, "Dan")],
            request_options={
                "additional_body_parameters": {
                    "timezone": open_zone_now(),
                    "calling_window": OPEN_WINDOW,
                    "retry_policy": {"max_attempts": 1, "min_delay_secs": 0},
                }
            },
        )
        return scheduled, now, client.list(limit=1), client.get(scheduled.id)

    scheduled, now, page, detail = await asyncio.to_thread(first_round)
    assert scheduled.name == "Next week" and scheduled.agent_id == agent_id and scheduled.agent_name == "Alex"
    assert scheduled.status == "pending" and scheduled.scheduled_time_unix == later
    assert scheduled.total_calls_scheduled == 2 and scheduled.total_calls_dispatched == 0
    assert scheduled.target_concurrency_limit == 3 and scheduled.timezone == "America/New_York"
    amd = scheduled.telephony_call_config.twilio_machine_detection
    assert scheduled.telephony_call_config.ringing_timeout_secs == 25
    assert amd is not None and amd.mode == "detect_message_end"
    assert amd.actions is not None and amd.actions[0].answered_by == ["fax"]
    assert [b.id for b in page.batch_calls] == [now.id] and page.has_more and page.next_doc
    assert [r.id for r in detail.recipients] == ["lead-10", "lead-11"]
    assert {r.status for r in detail.recipients} == {"pending"}
    assert detail.recipients[0].phone_number == us_number(10)
    client_data = detail.recipients[0].conversation_initiation_client_data
    assert client_data is not None and client_data.dynamic_variables == {"name": "Ann"}

    # The busy batch: both numbers dialed once, both failed (one attempt allowed).
    busy = await wait_for_batch(stack.api, now.id, lambda b: b["status"] == "completed")
    assert [r["status"] for r in busy["recipients"]] == ["failed", "failed"]
    assert [r["attempt_log"][0]["outcome"] for r in busy["recipients"]] == ["busy", "busy"]

    def second_round() -> tuple[Any, Any, Any]:
        cancelled = client.cancel(scheduled.id)
        retried = client.retry(now.id)
        return cancelled, retried, client.get(scheduled.id)

    cancelled, retried, after_cancel = await asyncio.to_thread(second_round)
    assert cancelled.status == "cancelled"
    assert {r.status for r in after_cancel.recipients} == {"cancelled"}
    assert retried.retry_count == 1 and retried.status == "in_progress"
    again = await wait_for_batch(stack.api, now.id, lambda b: b["status"] == "completed")
    assert [r["attempts"] for r in again["recipients"]] == [2, 2]
    assert stack.twilio.dials()[us_number(1)] == 2 and us_number(10) not in stack.twilio.dials()

    def gone() -> None:
        client.delete(scheduled.id)
        client.get(scheduled.id)

    with pytest.raises(ApiError) as missing:
        await asyncio.to_thread(gone)
    assert missing.value.status_code == 404


async def _submit(stack: LocalStack, **body: Any) -> tuple[int, Any]:
    response = await stack.api.post("/v1/convai/batch-calling/submit", json={"call_name": "x", **body})
    return response.status_code, response.json()


async def test_bad_rows_are_named_and_nothing_is_created(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    good = {
        "phone_number": us_number(1),
        "conversation_initiation_client_data": {"dynamic_variables": {"name": "A"}},
    }

    def row(number: str, **variables: str) -> dict[str, Any]:
        return {
            "phone_number": number,
            "conversation_initiation_client_data": {"dynamic_variables": variables},
        }

    cases = [
        ([good, row("555-01", name="B")], 422, "recipients[1].phone_number"),
        (
            [good, row("(202) 555-0001", name="B")],
            422,
            "recipients[1]: +12025550001 is a duplicate of recipients[0]",
        ),
        ([good, row(us_number(3))], 422, "recipients[1]: missing dynamic variables the agent needs: name"),
        ([], 422, "at least one recipient"),
    ]
    for recipients, status, message in cases:
        code, body = await _submit(stack, agent_id=agent_id, recipients=recipients)
        assert code == status and message in body["detail"], body
    code, body = await _submit(stack, agent_id="agent_nope", recipients=[good])
    assert code == 404 and "agent_nope" in body["detail"]
    code, body = await _submit(
        stack, agent_id=agent_id, agent_phone_number_id="phnum_nope", recipients=[good]
    )
    assert code == 404 and "phnum_nope" in body["detail"]
    code, body = await _submit(
        stack,
        agent_id=agent_id,
        recipients=[good],
        telephony_call_config={"twilio_machine_detection": {"mode": "x"}},
    )
    assert code == 422 and "mode" in body["detail"]
    code, body = await _submit(
        stack, agent_id=agent_id, recipients=[good], calling_window={"start": "22:00", "end": "23:00"}
    )
    assert code == 422 and "calling_window" in body["detail"]
    code, body = await _submit(stack, agent_id=agent_id, recipients=[good], timezone="Mars/Olympus")
    assert code == 422 and "timezone" in body["detail"]
    listed = (await stack.api.get("/v1/convai/batch-calling/workspace")).json()
    assert listed["batch_calls"] == [] and listed["has_more"] is False
    assert (await stack.api.get("/v1/convai/batch-calling/btcal_nope")).status_code == 404
    assert (await stack.api.get("/v1/convai/batch-calling/workspace?last_doc=garbage")).status_code == 422


async def test_suppression_list_api(stack: LocalStack) -> None:
    api = stack.api
    created = await api.post(
        "/v1/convai/suppression-list", json={"phone_number": "(212) 555-0142", "reason": "asked"}
    )
    assert created.status_code == 201
    entry = created.json()
    assert entry["phone_number"] == "+12125550142" and entry["source"] == "api" and entry["reason"] == "asked"
    again = await api.post("/v1/convai/suppression-list", json={"phone_number": "+12125550142"})
    assert again.status_code == 200 and again.json()["reason"] == "asked"
    bad = await api.post("/v1/convai/suppression-list", json={"phone_number": "not a number"})
    assert bad.status_code == 422

    refused = await api.post(
        "/v1/convai/suppression-list/import",
        content="phone_number,reason\n+12025550101,crm\nnope,x\n",
        headers={"content-type": "text/csv"},
    )
    assert refused.status_code == 422 and "row 3" in refused.json()["detail"]
    imported = await api.post(
        "/v1/convai/suppression-list/import",
        files={
            "file": ("dnc.csv", b"phone_number,reason\n+12025550101,crm\n202-555-0102,\n+12125550142,dup\n")
        },
    )
    assert imported.status_code == 200
    assert imported.json() == {"imported": 2, "already_listed": 1, "total": 3}

    first = (await api.get("/v1/convai/suppression-list?page_size=2")).json()
    assert len(first["numbers"]) == 2 and first["has_more"]
    rest = (await api.get(f"/v1/convai/suppression-list?page_size=2&cursor={first['next_cursor']}")).json()
    listed = {n["phone_number"]: n["source"] for n in first["numbers"] + rest["numbers"]}
    assert listed == {"+12125550142": "api", "+12025550101": "import", "+12025550102": "import"}
    assert (await api.delete("/v1/convai/suppression-list/+12025550101")).status_code == 200
    assert (await api.delete("/v1/convai/suppression-list/+12025550101")).status_code == 404
    assert (await api.get("/v1/convai/suppression-list/+12025550102")).json()["source"] == "import"
    assert (await api.get("/v1/convai/suppression-list", headers={"xi-api-key": "wrong"})).status_code == 401


async def test_plan_mix_is_seedable() -> None:
    from sdr_agent.sim.twilio_mix import OutcomeMix

    mix = OutcomeMix(
        {"human": 2, "busy": 1, "no_answer": 1, "machine": 1}, seed=7, human=CallPlan(hangup_at_s=1)
    )
    kinds = [mix.kind_for(us_number(n), 0) for n in range(200)]
    assert kinds == [OutcomeMix(mix.weights, seed=7).kind_for(us_number(n), 0) for n in range(200)]
    assert kinds != [OutcomeMix(mix.weights, seed=8).kind_for(us_number(n), 0) for n in range(200)]
    assert set(kinds) == {"human", "busy", "no_answer", "machine"}
