"""REST call control of a live call: ``POST .../conversations/{id}/transfer`` and ``.../hangup`` reach the
call through Twilio's REST API (the process holding the media stream needs no message: Twilio stops it).
``tests/deploy/test_workers.py`` shows the hang-up answered by a worker that does not hold the call."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from tests.telephony.support import AgentStream, FakeAgent, make_agent
from websockets.asyncio.server import ServerConnection

from sdr_agent.services import Services
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.repos import conversations as conversations_repo

CALLEE = "+15551234567"
DESK = "+15550009999"


async def _hold_until_closed(ws: ServerConnection, stream: AgentStream) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def _status(services: Services, conversation_id: str) -> str:
    async with services.db.session() as session:
        found = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
    assert found is not None
    return found.status


async def _place_live_call(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn, fake_agent: FakeAgent
) -> tuple[str, str]:
    agent_id = await make_agent(services, first_message="Hi, this is Alex.")
    fake_agent.behaviour = _hold_until_closed
    body = {"agent_id": agent_id, "to_number": CALLEE}
    placed = (await client.post("/v1/convai/outbound", json=body)).json()
    call = await standin.wait_for_stream(placed["call_sid"], timeout=15)
    assert call.stream_started_ms is not None
    return placed["conversation_id"], placed["call_sid"]


async def test_transfer_redirects_the_live_call_to_a_dial(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    conversation_id, call_sid = await _place_live_call(client, services, standin, fake_agent)
    path = f"/v1/convai/conversations/{conversation_id}/transfer"

    assert (await client.post(path, json={"phone_number": "desk"})).status_code == 422
    assert (await client.post("/v1/convai/conversations/conv_nope/transfer",
                              json={"phone_number": DESK})).status_code == 404
    moved = await client.post(path, json={"phone_number": DESK})

    assert moved.status_code == 200, moved.text
    assert moved.json() == {"conversation_id": conversation_id, "call_sid": call_sid,
                            "status": "transferring"}
    call = await standin.wait_for_call(call_sid, timeout=15)
    assert [f"<Dial>{DESK}</Dial>" in form.get("Twiml", "") for form in call.rest_updates] == [True]


async def test_hangup_completes_the_live_call_and_then_refuses(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    conversation_id, call_sid = await _place_live_call(client, services, standin, fake_agent)
    path = f"/v1/convai/conversations/{conversation_id}/hangup"

    done = await client.post(path)

    assert done.status_code == 200, done.text
    call = await standin.wait_for_call(call_sid, timeout=15)
    assert call.end_request == "agent-hangup"
    assert [form.get("Status") for form in call.rest_updates] == ["completed"]
    for _ in range(100):  # the completed status callback closes the conversation
        if await _status(services, conversation_id) not in ("initiated", "in-progress"):
            break
        await asyncio.sleep(0.05)
    again = await client.post(path)
    assert again.status_code == 409 and "not a live call" in again.json()["detail"]
    transfer = await client.post(f"/v1/convai/conversations/{conversation_id}/transfer",
                                 json={"phone_number": DESK})
    assert transfer.status_code == 409
