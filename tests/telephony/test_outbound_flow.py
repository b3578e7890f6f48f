"""Outbound API → twilio library → stand-in → signed TwiML → Stream with token → callbacks → status."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
from tests.telephony.support import (
    AgentStream,
    FakeAgent,
    make_agent,
    read_until,
    send_mark,
    send_media,
    tone,
)
from websockets.asyncio.server import ServerConnection

from sdr_agent.services import Services
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.telephony.twilio.tokens import call_tokens

CALLEE = "+15551234567"


async def _conversation(services: Services, conversation_id: str) -> conversations_repo.Conversation:
    async with services.db.session() as session:
        found = await conversations_repo.get_conversation(session, conversation_id)
    assert found is not None
    return found


def _session_like_agent(services: Services) -> object:
    """Checks the token like the media endpoint, records the stream, greets, waits for its mark, hangs up."""

    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        start = stream.start["start"]
        if not await call_tokens(services).consume(start["callSid"], start["customParameters"].get("token")):
            await ws.close(1008, "bad token")
            return
        async with services.db.session() as session:
            await conversations_repo.update_conversation(
                session, start["customParameters"]["conversation_id"], stream_sid=stream.stream_sid
            )
        await ws.send(send_media(stream, tone(300)))
        await ws.send(send_mark(stream, "greeting"))
        await read_until(ws, stream, "mark")
        await ws.close()

    return behaviour


async def test_seed_outbound_call_reaches_the_stream_and_ends_processing(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    agent_id = await make_agent(services, first_message="Hi {{name}}, this is Alex.")
    fake_agent.behaviour = _session_like_agent(services)  # type: ignore[assignment]

    response = await client.post(
        "/v1/convai/outbound",
        json={"agent_id": agent_id, "to_number": CALLEE, "dynamic_variables": {"name": "John"}},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "initiated" and body["call_sid"].startswith("CA")
    call = await standin.wait_for_call(body["call_sid"], timeout=15)
    assert call.webhook_errors == [] and call.protocol_errors == []
    # the library's request, as Twilio received it
    method, path, form, status = standin.rest_requests[0]
    assert (method, status) == ("POST", 201)
    assert path.endswith("/Calls.json")
    assert form["To"] == CALLEE and form["From"] == "+15550000000"
    assert urlparse(form["Url"]).path == "/twiml/voice_outbound"
    assert form["Url"].startswith("https://agent.test/") and form["StatusCallback"].startswith(
        "https://agent.test/"
    )
    assert form["StatusCallbackEvent"] == "initiated,ringing,answered,completed"
    # TwiML: a wss stream to /ws/voice/{call_sid} carrying token, conversation and agent
    assert call.stream_url == f"wss://agent.test/ws/voice/{call.sid}"
    params = call.custom_parameters
    assert set(params) == {"token", "conversation_id", "agent_id"}
    assert params["conversation_id"] == body["conversation_id"] and params["agent_id"] == agent_id
    assert parse_qs(urlparse(form["Url"]).query)["conversation_id"] == [body["conversation_id"]]
    # the agent saw Twilio's opening messages and the stand-in heard the greeting and echoed its mark
    stream = fake_agent.streams[0]
    assert stream.path == f"/ws/voice/{call.sid}"
    assert stream.connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert stream.start["sequenceNumber"] == "1" and stream.start["start"]["callSid"] == call.sid
    assert len(call.heard_audio) == 2400
    assert call.marks_echoed == ["greeting"]
    assert call.ended_by == "agent-closed-stream"
    # status callbacks, all accepted
    assert [c.event for c in call.status_callbacks] == ["initiated", "ringing", "answered", "completed"]
    assert all(c.status_code == 204 for c in call.status_callbacks)
    assert call.status_callbacks[-1].form["CallDuration"].isdigit()
    conversation = await _conversation(services, body["conversation_id"])
    assert conversation.status == "processing"
    assert conversation.call_sid == call.sid
    assert conversation.dynamic_variables["name"] == "John"
    assert conversation.dynamic_variables["system__call_sid"] == call.sid
    assert conversation.dynamic_variables["system__called_number"] == CALLEE
    assert conversation.metadata["phone_call"]["call_sid"] == call.sid
    assert conversation.metadata["phone_call"]["direction"] == "outbound"
    assert conversation.metadata["phone_call"]["external_number"] == CALLEE


async def test_elevenlabs_outbound_call_with_override_and_imported_number(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    from tests.telephony.support import make_number

    agent_id = await make_agent(services, first_message="Hello.")
    other_sid, other_token = "AC" + "1" * 32, "other-token"
    standin.add_account(other_sid, other_token)
    number_id = await make_number(services, "+15557770000", agent_id, sid=other_sid, token=other_token)
    fake_agent.behaviour = _session_like_agent(services)  # type: ignore[assignment]

    response = await client.post(
        "/v1/convai/twilio/outbound-call",
        json={
            "agent_id": agent_id,
            "agent_phone_number_id": number_id,
            "to_number": CALLEE,
            "conversation_initiation_client_data": {
                "dynamic_variables": {"plan": "pro"},
                "conversation_config_override": {"agent": {"first_message": "Hi about {{plan}}"}},
            },
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["callSid"].startswith("CA")
    call = await standin.wait_for_call(body["callSid"], timeout=15)
    assert call.account_sid == other_sid and call.from_ == "+15557770000"
    # the imported account's token signed the webhooks, and they were accepted
    assert all(c.status_code == 204 for c in call.status_callbacks)
    conversation = await _conversation(services, body["conversation_id"])
    assert conversation.config_override == {"agent": {"first_message": "Hi about {{plan}}"}}
    assert conversation.phone_number_id == number_id
    assert conversation.status == "processing"
