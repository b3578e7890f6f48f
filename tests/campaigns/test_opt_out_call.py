"""A lead who says "take me off your list" during a campaign call: the agent confirms and ends the call, the
number goes on the do-not-call list (source ``call``), and a later campaign never dials it."""

from __future__ import annotations

import asyncio

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.engines.factory import EngineSet
from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, marker_speech
from sdr_agent.engines.local.grounded import GroundedResponder
from sdr_agent.sim.caller_script import CallerScript, CallerTurn
from sdr_agent.sim.local_stack import LocalStack
from tests.campaigns.support import OPEN_WINDOW, all_terminal, open_zone_now, us_number, wait_for_batch

LEAD = us_number(77)


async def _campaign(stack: LocalStack, agent_id: str) -> str:
    response = await stack.api.post(
        "/v1/convai/batch-calling/submit",
        json={
            "call_name": "opt-out",
            "agent_id": agent_id,
            "recipients": [{"phone_number": LEAD}],
            "timezone": open_zone_now(),
            "calling_window": OPEN_WINDOW,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_dont_call_me_again_adds_the_number_and_ends_the_call(stack: LocalStack) -> None:
    stack.app.state.services.voice.engines = EngineSet(
        stt=FakeSTT(
            markers={300.0: "please take me off your list and don't call me again"}, partial_after_ms=80.0
        ),
        tts=FakeTTS(ms_per_char=20.0),
        llm=GroundedResponder(),
        vad_factory=FakeVAD,
        embedder=None,
    )
    agent_id = await stack.create_agent(
        {
            "name": "Alex",
            "conversation_config": {
                "agent": {"first_message": "Hi, this is Alex from Acme Cloud. Do you have a minute?"}
            },
        }
    )
    line = pcm_to_ulaw(marker_speech(300.0, 1200))
    stack.twilio.set_script(
        LEAD, CallerScript((CallerTurn(line, delay_ms=400, label="opt-out"),)), hangup_at_s=30
    )
    batch_id = await _campaign(stack, agent_id)
    body = await wait_for_batch(stack.api, batch_id, all_terminal, timeout=40)
    assert body["recipients"][0]["status"] == "completed"

    call = next(c for c in stack.twilio.calls.values() if c.to == LEAD)
    assert call.ended_by != "hangup_at", "the agent ended the call; the caller did not have to hang up"
    assert (
        any(u.get("Status") == "completed" for u in call.rest_updates)
        or call.ended_by == "agent-closed-stream"
    )
    assert call.duration_s < 25

    listed = None
    for _ in range(100):  # written when the conversation is finalized (or when the dialer closes the attempt)
        response = await stack.api.get(f"/v1/convai/suppression-list/{LEAD}")
        if response.status_code == 200:
            listed = response.json()
            break
        await asyncio.sleep(0.1)
    assert listed is not None and listed["source"] == "call" and "take me off" in listed["reason"]
    conversation = await stack.conversation(body["recipients"][0]["conversation_id"])
    agent_lines = [t["message"] for t in conversation["transcript"] if t["role"] == "agent"]
    assert len(agent_lines) >= 2, "the agent confirmed before hanging up"

    again = await _campaign(stack, agent_id)
    second = await wait_for_batch(stack.api, again, all_terminal, timeout=20)
    assert second["recipients"][0]["status"] == "cancelled" and second["recipients"][0]["attempts"] == 0
    assert stack.twilio.dials()[LEAD] == 1
