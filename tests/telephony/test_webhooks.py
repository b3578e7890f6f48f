"""Twilio webhooks: signatures, inbound answering, status callbacks moving the conversation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.telephony.support import make_agent, make_number

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twiml_reader import read_twiml
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.telephony.answer import NUMBER_UNAVAILABLE_LINE
from sdr_agent.telephony.twilio.signature import compute_signature
from sdr_agent.telephony.twilio.tokens import call_tokens

# Status moves are conditional UPDATEs: they run on PostgreSQL too.
pytestmark = pytest.mark.postgres

CALL_SID = "CA" + "a" * 32
AGENT_NUMBER = "+15559990000"
CALLER = "+15551112222"


def _form(**extra: str) -> dict[str, str]:
    return {
        "CallSid": CALL_SID,
        "AccountSid": "AC" + "0" * 32,
        "From": CALLER,
        "To": AGENT_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def post_signed(
    client: httpx.AsyncClient,
    settings: Settings,
    path: str,
    form: dict[str, str],
    *,
    token: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    url = settings.public_base_url + path
    if signature is None:
        signature = compute_signature(token or settings.twilio_auth_token.get_secret_value(), url, form)
    return await client.post(path, data=form, headers={"X-Twilio-Signature": signature})


@pytest.mark.parametrize("path", ["/twiml/voice_inbound", "/twiml/voice_outbound", "/twiml/status"])
async def test_missing_or_wrong_signature_is_403(
    client: httpx.AsyncClient, settings: Settings, path: str
) -> None:
    form = _form()
    missing = await client.post(path, data=form)
    wrong_token = await post_signed(client, settings, path, form, token="not-the-token")
    garbage = await post_signed(client, settings, path, form, signature="abc=")
    url = settings.public_base_url + path
    tampered = await client.post(
        path,
        data={**form, "From": "+19990000000"},
        headers={
            "X-Twilio-Signature": compute_signature(settings.twilio_auth_token.get_secret_value(), url, form)
        },
    )
    other_url = await client.post(
        path,
        data=form,
        headers={
            "X-Twilio-Signature": compute_signature(
                settings.twilio_auth_token.get_secret_value(), "https://evil.test" + path, form
            )
        },
    )

    for response in (missing, wrong_token, garbage, tampered, other_url):
        assert response.status_code == 403
        assert "X-Twilio-Signature" in response.json()["detail"]


async def test_signature_covers_the_query_string(client: httpx.AsyncClient, settings: Settings) -> None:
    form = _form(CallStatus="completed")
    url = settings.public_base_url + "/twiml/status?conversation_id=conv_x"
    signature = compute_signature(settings.twilio_auth_token.get_secret_value(), url, form)

    good = await client.post(
        "/twiml/status?conversation_id=conv_x", data=form, headers={"X-Twilio-Signature": signature}
    )
    moved = await client.post(
        "/twiml/status?conversation_id=conv_y", data=form, headers={"X-Twilio-Signature": signature}
    )

    assert good.status_code == 204
    assert moved.status_code == 403


async def test_unknown_inbound_number_gets_say_and_hangup(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await post_signed(client, settings, "/twiml/voice_inbound", _form(To="+15550000001"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    verbs = read_twiml(response.text)
    assert [(v.name, v.text) for v in verbs] == [("Say", NUMBER_UNAVAILABLE_LINE), ("Hangup", "")]


async def test_unassigned_number_gets_say_and_hangup(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    await make_number(services, AGENT_NUMBER, None)
    response = await post_signed(client, settings, "/twiml/voice_inbound", _form())

    assert [v.name for v in read_twiml(response.text)] == ["Say", "Hangup"]


async def test_inbound_call_connects_the_numbers_agent(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    agent_id = await make_agent(services, placeholders={"company": "Acme"})
    number_id = await make_number(services, AGENT_NUMBER, agent_id)

    response = await post_signed(client, settings, "/twiml/voice_inbound", _form())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    (connect,) = read_twiml(response.text)
    assert connect.stream_url == f"wss://agent.test/ws/voice/{CALL_SID}"
    params = connect.stream_parameters
    assert params["agent_id"] == agent_id
    async with services.db.session() as session:
        conversation = await conversations_repo.get_conversation_by_call_sid(session, CALL_SID)
    assert conversation is not None
    assert conversation.conversation_id == params["conversation_id"]
    assert (conversation.direction, conversation.status, conversation.agent_id) == (
        "inbound",
        "initiated",
        agent_id,
    )
    assert conversation.phone_number_id == number_id
    variables = conversation.dynamic_variables
    assert variables["system__caller_id"] == CALLER
    assert variables["system__called_number"] == AGENT_NUMBER
    assert variables["system__call_sid"] == CALL_SID
    assert variables["system__conversation_id"] == conversation.conversation_id
    assert variables["system__time_utc"].endswith("Z")
    assert variables["company"] == "Acme"
    assert conversation.metadata["phone_call"] == {
        "type": "twilio",
        "direction": "inbound",
        "phone_number_id": number_id,
        "agent_number": AGENT_NUMBER,
        "external_number": CALLER,
        "call_sid": CALL_SID,
        "stream_sid": None,
    }
    # the token in the TwiML is the one the media endpoint will accept, once
    store = call_tokens(services)
    assert await store.consume(CALL_SID, params["token"]) is True
    assert await store.consume(CALL_SID, params["token"]) is False


async def test_replayed_inbound_webhook_gets_no_second_token(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    agent_id = await make_agent(services)
    await make_number(services, AGENT_NUMBER, agent_id)

    first = read_twiml((await post_signed(client, settings, "/twiml/voice_inbound", _form())).text)[0]
    replay = read_twiml((await post_signed(client, settings, "/twiml/voice_inbound", _form())).text)

    # A correctly signed replay mints nothing and leaves the real call's token valid.
    assert [verb.name for verb in replay] == ["Say", "Hangup"]
    assert await call_tokens(services).consume(CALL_SID, first.stream_parameters["token"]) is True
    async with services.db.session() as session:
        found = await conversations_repo.get_conversation_by_call_sid(session, CALL_SID)
    assert found is not None and found.conversation_id == first.stream_parameters["conversation_id"]


async def test_imported_numbers_own_account_signs_its_webhooks(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    agent_id = await make_agent(services)
    other_sid = "AC" + "2" * 32
    await make_number(services, AGENT_NUMBER, agent_id, sid=other_sid, token="number-token")
    form = _form(AccountSid=other_sid)

    accepted = await post_signed(client, settings, "/twiml/voice_inbound", form, token="number-token")
    wrong_account = await post_signed(
        client, settings, "/twiml/voice_inbound", _form(AccountSid="AC" + "3" * 32), token="number-token"
    )

    assert accepted.status_code == 200 and read_twiml(accepted.text)[0].name == "Connect"
    assert wrong_account.status_code == 403


async def test_outbound_webhook_for_unknown_call_hangs_up(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await post_signed(
        client, settings, "/twiml/voice_outbound", _form(Direction="outbound-api", CallStatus="in-progress")
    )
    assert response.status_code == 200
    assert [v.name for v in read_twiml(response.text)] == ["Say", "Hangup"]


async def test_webhook_with_unusable_call_sid_hangs_up(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    agent_id = await make_agent(services)
    await make_number(services, AGENT_NUMBER, agent_id)
    response = await post_signed(client, settings, "/twiml/voice_inbound", _form(CallSid="../../etc"))
    assert [v.name for v in read_twiml(response.text)] == ["Say", "Hangup"]


# ---------------------------------------------------------------- status callbacks


async def _outbound_conversation(services: Services, status: str = "initiated", **fields: Any) -> str:
    agent_id = await make_agent(services)
    async with services.db.session() as session:
        conversation = await conversations_repo.create_conversation(
            session, agent_id=agent_id, direction="outbound", status=status, call_sid=CALL_SID
        )
        if fields:
            await conversations_repo.update_conversation(session, conversation.conversation_id, **fields)
    return conversation.conversation_id


async def _status(services: Services, conversation_id: str) -> conversations_repo.Conversation:
    async with services.db.session() as session:
        found = await conversations_repo.get_conversation(session, conversation_id)
    assert found is not None
    return found


async def _callback(client: httpx.AsyncClient, settings: Settings, call_status: str, **extra: str) -> None:
    response = await post_signed(
        client, settings, "/twiml/status", _form(CallStatus=call_status, Direction="outbound-api", **extra)
    )
    assert response.status_code == 204
    assert response.content == b""


async def test_status_callbacks_walk_the_conversation_forward(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    conversation_id = await _outbound_conversation(services)

    await _callback(client, settings, "initiated")
    await _callback(client, settings, "ringing")
    assert (await _status(services, conversation_id)).status == "initiated"
    await _callback(client, settings, "in-progress")
    assert (await _status(services, conversation_id)).status == "in-progress"
    await _callback(client, settings, "ringing")  # late and out of order: no step back
    assert (await _status(services, conversation_id)).status == "in-progress"
    async with services.db.session() as session:  # the voice session records its stream
        await conversations_repo.update_conversation(session, conversation_id, stream_sid="MZ1")
    await _callback(client, settings, "completed", CallDuration="42")

    conversation = await _status(services, conversation_id)
    assert conversation.status == "processing"
    assert conversation.duration_secs == 42
    assert conversation.ended_at is not None


async def test_a_status_callback_before_the_rest_answer_ties_the_call_like_the_answer_would(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    # On a busy server Twilio's "initiated" callback can land before the REST answer carrying the sid is
    # stored: the callback stores the sid, and the conversation must look the same as if the answer had.
    agent_id = await make_agent(services)
    async with services.db.session() as session:
        created = await conversations_repo.create_conversation(
            session, agent_id=agent_id, direction="outbound", status="initiated",
            dynamic_variables={"name": "John"},
        )
    response = await post_signed(
        client, settings, f"/twiml/status?conversation_id={created.conversation_id}",
        _form(CallStatus="initiated", Direction="outbound-api"),
    )
    assert response.status_code == 204

    conversation = await _status(services, created.conversation_id)
    assert conversation.call_sid == CALL_SID
    assert conversation.dynamic_variables == {"name": "John", "system__call_sid": CALL_SID}
    assert conversation.metadata["phone_call"]["call_sid"] == CALL_SID


async def test_completed_without_a_stream_is_failed(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    conversation_id = await _outbound_conversation(services, status="in-progress")
    await _callback(client, settings, "completed", CallDuration="3")

    conversation = await _status(services, conversation_id)
    assert conversation.status == "failed"
    assert conversation.termination_reason == "call ended before the media stream connected"
    assert conversation.metadata["termination_reason"] == conversation.termination_reason


@pytest.mark.parametrize("call_status", ["no-answer", "busy", "failed", "canceled"])
async def test_unanswered_calls_fail_with_the_reason(
    client: httpx.AsyncClient, settings: Settings, services: Services, call_status: str
) -> None:
    conversation_id = await _outbound_conversation(services)
    await _callback(client, settings, call_status, CallDuration="0")

    conversation = await _status(services, conversation_id)
    assert conversation.status == "failed"
    assert conversation.termination_reason == call_status
    assert conversation.metadata["termination_reason"] == call_status
    assert conversation.duration_secs == 0


@pytest.mark.parametrize("call_status", ["in-progress", "completed", "busy", "ringing"])
async def test_done_conversation_never_moves(
    client: httpx.AsyncClient, settings: Settings, services: Services, call_status: str
) -> None:
    conversation_id = await _outbound_conversation(services, status="done", duration_secs=12.5)
    await _callback(client, settings, call_status, CallDuration="13")

    conversation = await _status(services, conversation_id)
    assert conversation.status == "done"
    assert conversation.duration_secs == 12.5
    assert conversation.termination_reason is None


async def test_processing_conversation_keeps_its_status_and_gets_a_missing_duration(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    conversation_id = await _outbound_conversation(services, status="processing", stream_sid="MZ1")
    await _callback(client, settings, "completed", CallDuration="9")

    conversation = await _status(services, conversation_id)
    assert (conversation.status, conversation.duration_secs) == ("processing", 9)


async def test_callback_for_unknown_call_or_garbage_is_acknowledged(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    conversation_id = await _outbound_conversation(services)
    await _callback(client, settings, "completed", CallSid="CA" + "f" * 32)
    await _callback(client, settings, "weird-status")
    await _callback(client, settings, "completed", CallDuration="not-a-number")

    conversation = await _status(services, conversation_id)
    assert conversation.status == "failed"  # the last one matched and had no stream
    assert conversation.duration_secs == 0


async def test_callback_naming_another_calls_conversation_is_ignored(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    conversation_id = await _outbound_conversation(services)
    path = f"/twiml/status?conversation_id={conversation_id}"
    response = await post_signed(client, settings, path, _form(CallSid="CA" + "e" * 32, CallStatus="busy"))

    assert response.status_code == 204
    assert (await _status(services, conversation_id)).status == "initiated"
