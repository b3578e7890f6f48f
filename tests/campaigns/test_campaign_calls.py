"""Campaign calls against the Twilio stand-in: voicemail via AMD, suppression at dial time, retries, caps."""

from __future__ import annotations

import asyncio
from typing import Any

from sdr_agent.sim.call_record import CallPlan
from sdr_agent.sim.local_stack import LocalStack
from sdr_agent.sim.twilio_mix import OutcomeMix
from tests.campaigns.support import OPEN_WINDOW, all_terminal, open_zone_now, us_number, wait_for_batch

VOICEMAIL = "Hi {{name}}, this is Alex from Acme. I'll try you again tomorrow."
AGENT: dict[str, Any] = {
    "name": "Alex",
    "conversation_config": {
        "agent": {
            "first_message": "Hi {{name}}, it's Alex from Acme.",
            "prompt": {
                "prompt": "Be brief.",
                "built_in_tools": {
                    "voicemail_detection": {
                        "name": "voicemail_detection",
                        "params": {"system_tool_type": "voicemail_detection", "voicemail_message": VOICEMAIL},
                    }
                },
            },
        }
    },
}


def _lead(n: int, name: str = "Sam") -> dict[str, Any]:
    return {
        "phone_number": us_number(n),
        "conversation_initiation_client_data": {"dynamic_variables": {"name": name}},
    }


async def _submit(stack: LocalStack, agent_id: str, recipients: list[dict[str, Any]], **extra: Any) -> str:
    body = {
        "call_name": "test",
        "agent_id": agent_id,
        "recipients": recipients,
        "timezone": open_zone_now(),
        "calling_window": OPEN_WINDOW,
        **extra,
    }
    response = await stack.api.post("/v1/convai/batch-calling/submit", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_machine_end_beep_leaves_the_voicemail_message_and_ends_the_call(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    stack.twilio.set_script(us_number(1), answered_by="machine", greeting_ms=600, hangup_at_s=20.0)
    stack.twilio.set_script(us_number(2), hangup_at_s=2.0)  # a person, for contrast
    batch_id = await _submit(
        stack,
        agent_id,
        [_lead(1, "Morgan"), _lead(2, "Riley")],
        telephony_call_config={
            "ringing_timeout_secs": 20,
            "twilio_machine_detection": {"mode": "detect_message_end"},
        },
    )
    body = await wait_for_batch(stack.api, batch_id, all_terminal, timeout=30)
    machine, person = body["recipients"]
    assert machine["status"] == "voicemail" and person["status"] == "completed"
    assert machine["attempt_log"][0]["answered_by"] == "machine_end_beep"

    expected = "Hi Morgan, this is Alex from Acme. I'll try you again tomorrow."
    call = next(c for c in stack.twilio.calls.values() if c.to == us_number(1))
    assert call.ended.is_set() and call.said == [expected]  # played after the beep, then <Hangup/>
    assert call.duration_s < 10, "the call ended after the message, not when the machine gave up"
    form = next(
        f
        for method, path, f, _ in stack.twilio.rest_requests
        if method == "POST" and f.get("To") == us_number(1)
    )
    assert form["MachineDetection"] == "DetectMessageEnd" and form["AsyncAmd"] == "true"
    assert form["AsyncAmdStatusCallback"].startswith(stack.settings.public_base_url + "/twiml/amd")
    assert form["Timeout"] == "20"
    assert [c.status_code for c in call.amd_callbacks] == [204]

    conversation = await stack.wait_for_status(machine["conversation_id"], {"done", "failed"}, timeout=15)
    for _ in range(50):  # the message is stored once the call's own session wrote its last turn
        agent_lines = [t["message"] for t in conversation["transcript"] if t["role"] == "agent"]
        if expected in agent_lines:
            break
        await asyncio.sleep(0.1)
        conversation = await stack.conversation(machine["conversation_id"])
    assert agent_lines[-1] == expected
    assert conversation["metadata"]["answering_machine_detection"]["answered_by"] == "machine_end_beep"
    human_call = next(c for c in stack.twilio.calls.values() if c.to == us_number(2))
    assert human_call.said == [] and human_call.answered_by == "human"


async def test_hang_up_action_ends_a_machine_call_without_a_message(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    stack.twilio.set_script(us_number(3), answered_by="machine", greeting_ms=400, hangup_at_s=20.0)
    batch_id = await _submit(
        stack,
        agent_id,
        [_lead(3)],
        telephony_call_config={
            "twilio_machine_detection": {
                "mode": "detect_message_end",
                "actions": [
                    {"action": "hang_up", "answered_by": ["machine_end_beep", "machine_end_silence"]}
                ],
            }
        },
    )
    body = await wait_for_batch(stack.api, batch_id, all_terminal, timeout=30)
    assert body["recipients"][0]["status"] == "voicemail"
    call = next(c for c in stack.twilio.calls.values() if c.to == us_number(3))
    assert call.said == [] and call.duration_s < 10


async def test_suppressed_numbers_are_never_dialed_even_if_listed_after_submit(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    await stack.api.post("/v1/convai/suppression-list", json={"phone_number": us_number(5)})
    stack.twilio.set_mix(OutcomeMix({"human": 1}, seed=1, human=CallPlan(hangup_at_s=0.5)))
    later = {"scheduled_time_unix": 0}
    batch_id = await _submit(stack, agent_id, [_lead(n) for n in (4, 5, 6)], **later)
    # Listed between submit and dial: checked at dial time, not only at submit.
    await stack.api.post("/v1/convai/suppression-list", json={"phone_number": us_number(6)})
    body = await wait_for_batch(stack.api, batch_id, all_terminal, timeout=30)
    statuses = {r["phone_number"]: (r["status"], r["attempts"]) for r in body["recipients"]}
    assert statuses[us_number(4)] == ("completed", 1)
    dials = stack.twilio.dials()
    assert dials[us_number(4)] == 1 and us_number(5) not in dials
    if statuses[us_number(6)][1] == 0:  # the dialer had not reached it yet: it must then be skipped
        assert statuses[us_number(6)][0] == "cancelled" and us_number(6) not in dials
    assert statuses[us_number(5)] == ("cancelled", 0)


async def test_busy_and_no_answer_are_retried_per_policy_and_caps_hold(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    stack.twilio.set_script(us_number(7), outcome="busy")
    stack.twilio.set_script(us_number(8), outcome="no-answer")
    stack.twilio.set_mix(OutcomeMix({"human": 1}, seed=2, human=CallPlan(hangup_at_s=0.6)))
    leads = [_lead(n) for n in range(7, 15)]
    batch_id = await _submit(
        stack,
        agent_id,
        leads,
        target_concurrency_limit=2,
        retry_policy={"max_attempts": 3, "min_delay_secs": 0},
    )
    peak = 0
    body: dict[str, Any] = {}
    deadline = asyncio.get_running_loop().time() + 90  # generous: the suite shares two cores
    while asyncio.get_running_loop().time() < deadline:
        peak = max(peak, stack.twilio.live_calls())
        body = (await stack.api.get(f"/v1/convai/batch-calling/{batch_id}")).json()
        if all_terminal(body) and body["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert all_terminal(body) and body["status"] == "completed"
    assert peak <= 2, f"{peak} calls at once with target_concurrency_limit=2"
    by_number = {r["phone_number"]: r for r in body["recipients"]}
    assert [a["outcome"] for a in by_number[us_number(7)]["attempt_log"]] == ["busy"] * 3
    assert [a["outcome"] for a in by_number[us_number(8)]["attempt_log"]] == ["no-answer"] * 3
    assert by_number[us_number(7)]["status"] == "failed" and by_number[us_number(8)]["status"] == "failed"
    assert body["total_calls_finished"] == 8 and body["total_calls_dispatched"] == 8
    dials = stack.twilio.dials()
    assert dials[us_number(7)] == 3 and dials[us_number(8)] == 3
    assert all(dials[us_number(n)] == 1 for n in range(9, 15))
    export = await stack.api.get(f"/v1/convai/batch-calling/{batch_id}/export")
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert len(lines) == 9 and "busy;busy;busy" in export.text


async def test_global_cap_counts_every_live_call(stack: LocalStack) -> None:
    stack.settings.max_concurrent_calls = 2
    agent_id = await stack.create_agent(AGENT)
    stack.twilio.set_mix(OutcomeMix({"human": 1}, seed=3, human=CallPlan(hangup_at_s=0.6)))
    first = await _submit(stack, agent_id, [_lead(n) for n in range(20, 24)], target_concurrency_limit=5)
    second = await _submit(stack, agent_id, [_lead(n) for n in range(30, 34)], target_concurrency_limit=5)
    peak = 0
    deadline = asyncio.get_running_loop().time() + 90
    while asyncio.get_running_loop().time() < deadline:
        peak = max(peak, stack.twilio.live_calls())
        a = (await stack.api.get(f"/v1/convai/batch-calling/{first}")).json()
        b = (await stack.api.get(f"/v1/convai/batch-calling/{second}")).json()
        if all_terminal(a) and all_terminal(b):
            break
        await asyncio.sleep(0.05)
    assert all_terminal(a) and all_terminal(b)
    assert peak <= 2


async def test_single_outbound_call_honours_telephony_call_config(stack: LocalStack) -> None:
    agent_id = await stack.create_agent(AGENT)
    stack.twilio.set_script(us_number(40), hangup_at_s=0.5)
    body = {
        "agent_id": agent_id,
        "to_number": us_number(40),
        "conversation_initiation_client_data": {"dynamic_variables": {"name": "Pat"}},
        "telephony_call_config": {
            "ringing_timeout_secs": 15,
            "twilio_machine_detection": {
                "mode": "enable",
                "actions": [{"action": "hang_up", "answered_by": ["fax"]}],
            },
        },
    }
    placed = await stack.api.post("/v1/convai/twilio/outbound-call", json=body)
    assert placed.status_code == 200, placed.text
    call = await stack.twilio.wait_for_call(placed.json()["callSid"], timeout=20)
    form = next(
        f
        for method, _, f, _ in stack.twilio.rest_requests
        if method == "POST" and f.get("To") == us_number(40)
    )
    assert (form["Timeout"], form["MachineDetection"], form["AsyncAmd"]) == ("15", "Enable", "true")
    for _ in range(100):  # the verdict's callback runs beside the call and may land after it ended
        if call.amd_callbacks:
            break
        await asyncio.sleep(0.05)
    assert call.answered_by == "human" and [c.status_code for c in call.amd_callbacks] == [204]
    bad = {**body, "telephony_call_config": {"ringing_timeout_secs": 9999}}
    refused = await stack.api.post("/v1/convai/twilio/outbound-call", json=bad)
    assert refused.status_code == 422 and "ringing_timeout_secs" in refused.json()["detail"]


async def test_standin_rings_out_at_the_call_timeout(stack: LocalStack) -> None:
    from sdr_agent.telephony.twilio.rest import twilio_gateway

    gateway = twilio_gateway(stack.app.state.services)
    stack.twilio.set_script(us_number(41), ring_ms=4000)  # would pick up after 4 s...
    sid = await gateway.create_call(
        to=us_number(41),
        from_="+15550100000",
        url=f"{stack.settings.public_base_url}/twiml/voice_outbound",
        status_callback=f"{stack.settings.public_base_url}/twiml/status",
        timeout_s=1,  # ...but the caller gives up after 1 s
    )
    call = await stack.twilio.wait_for_call(sid, timeout=10)
    assert call.status == "no-answer" and call.answered_ms is None and call.ended_ms is not None
    assert call.ended_ms < 2500
    assert [r.form["CallStatus"] for r in call.callbacks_for("completed")] == ["no-answer"]
    status, answered_by = await gateway.fetch_status(sid)
    assert (status, answered_by) == ("no-answer", None)
