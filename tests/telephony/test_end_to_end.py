"""The whole path on 127.0.0.1: outbound API → twilio library → stand-in → signed TwiML → the real media
endpoint with its per-call token → greeting heard → callbacks → conversation done with a transcript."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.live_call import live_services, live_twilio  # noqa: F401 (fixtures: services, twilio)
from tests.telephony.support import make_agent

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.caller_script import HangUp
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.repos import conversations as conversations_repo

CALLEE = "+15551234567"



async def _place_call(live_server: str, agent_id: str) -> dict[str, str]:
    async with httpx.AsyncClient(
        base_url=live_server, headers={"xi-api-key": "test-key"}, timeout=15, trust_env=False
    ) as api:
        response = await api.post(
            "/v1/convai/outbound",
            json={
                "agent_id": agent_id,
                "to_number": CALLEE,
                "dynamic_variables": {"name": "John"},
            },
        )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def _wait_for_status(
    services: Services, conversation_id: str, statuses: set[str], timeout: float = 15.0
) -> conversations_repo.Conversation:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with services.db.session() as session:
            conversation = await conversations_repo.get_conversation(session, conversation_id)
        assert conversation is not None
        if conversation.status in statuses or asyncio.get_running_loop().time() > deadline:
            return conversation
        await asyncio.sleep(0.1)


async def test_outbound_call_end_to_end(live_server: str, services: Services, twilio: TwilioStandIn) -> None:
    agent_id = await make_agent(services, first_message="Hi {{name}}, this is Alex from Acme.")
    twilio.set_script(CALLEE, [HangUp(when="after_agent_silence", delay_ms=400)])

    body = await _place_call(live_server, agent_id)
    call = await twilio.wait_for_call(body["call_sid"], timeout=20)

    assert call.protocol_errors == [] and call.webhook_errors == []
    assert call.stream_sid is not None and call.ended_by == "caller-hangup"
    assert len(call.heard_audio) > 8000  # over a second of greeting reached the caller's ear
    assert call.marks_received and call.marks_echoed == call.marks_received
    assert [c.event for c in call.status_callbacks] == ["initiated", "ringing", "answered", "completed"]
    assert all(c.status_code == 204 for c in call.status_callbacks)
    conversation = await _wait_for_status(services, body["conversation_id"], {"done", "failed"})
    assert conversation.status == "done", conversation.termination_reason
    assert conversation.call_sid == call.sid
    agent_turns = [turn for turn in conversation.turns if turn.role == "agent"]
    assert agent_turns and agent_turns[0].message == "Hi John, this is Alex from Acme."


@pytest.mark.parametrize("token", [None, "not-the-token"])
async def test_missing_or_wrong_token_is_refused_before_any_audio(
    live_server: str, services: Services, twilio: TwilioStandIn, token: str | None
) -> None:
    agent_id = await make_agent(services)
    twilio.set_script(CALLEE, parameter_overrides={"token": token}, hangup_at_s=2.0)

    body = await _place_call(live_server, agent_id)
    call = await twilio.wait_for_call(body["call_sid"], timeout=20)

    assert call.stream_close_code == 1008
    assert call.heard_audio == b"" and call.marks_received == []
    conversation = await _wait_for_status(services, body["conversation_id"], {"failed", "done"})
    assert conversation.status == "failed" and conversation.turns == []


async def test_replayed_token_is_refused(live_server: str, services: Services, twilio: TwilioStandIn) -> None:
    agent_id = await make_agent(services)
    twilio.set_script(CALLEE, hangup_at_s=1.5)

    body = await _place_call(live_server, agent_id)
    await twilio.wait_for_stream(body["call_sid"])
    replay = await twilio.replay_stream(body["call_sid"], wait_s=1.0)
    call = await twilio.wait_for_call(body["call_sid"], timeout=20)

    assert replay.closed_by_server and replay.close_code == 1008
    assert "media" not in replay.events_received
    assert call.stream_close_code != 1008 and call.heard_audio  # the real stream carried on


async def test_expired_token_is_refused(
    live_server: str, services: Services, settings: Settings, twilio: TwilioStandIn
) -> None:
    settings.call_token_ttl_s = 0.001
    agent_id = await make_agent(services)
    twilio.set_script(CALLEE, hangup_at_s=2.0)

    body = await _place_call(live_server, agent_id)
    call = await twilio.wait_for_call(body["call_sid"], timeout=20)

    assert call.stream_close_code == 1008 and call.heard_audio == b""
