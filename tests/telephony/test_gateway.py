"""TwilioGateway (the real twilio library) against the stand-in: the REST calls and how errors come back."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tests.telephony.conftest import SINK_SID, SINK_TOKEN
from tests.telephony.support import AgentStream, FakeAgent, WebhookSink, drain
from websockets.asyncio.server import ServerConnection

from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.telephony.twilio.rest import STATUS_CALLBACK_EVENTS, TwilioError, TwilioGateway
from sdr_agent.telephony.twilio.signature import SIGNATURE_HEADER, is_valid_signature
from sdr_agent.telephony.twilio.twiml import transfer_twiml

TO, FROM = "+15551234567", "+15550000000"
VOICE_URL = "https://agent.test/twiml/voice_outbound?conversation_id=conv_1"
STATUS_URL = "https://agent.test/twiml/status?conversation_id=conv_1"


async def _create(gateway: TwilioGateway, to: str = TO) -> str:
    return await gateway.create_call(to=to, from_=FROM, url=VOICE_URL, status_callback=STATUS_URL)


async def _keep_open(ws: ServerConnection, stream: AgentStream) -> None:
    await drain(ws, stream)


async def test_create_call_sends_what_twilio_expects_and_signed_webhooks_follow(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, sink: WebhookSink
) -> None:
    call_sid = await _create(gateway)

    call = await sink_standin.wait_for_call(call_sid, timeout=10)
    _, path, form, status = sink_standin.rest_requests[0]
    assert status == 201 and path == f"/2010-04-01/Accounts/{SINK_SID}/Calls.json"
    assert form["Url"] == VOICE_URL and form["Method"] == "POST"
    assert form["StatusCallback"] == STATUS_URL and form["StatusCallbackMethod"] == "POST"
    assert form["StatusCallbackEvent"] == ",".join(STATUS_CALLBACK_EVENTS)
    assert call.callback_events == STATUS_CALLBACK_EVENTS
    # every webhook is signed over the public URL with the account's token
    assert [p for p, _, _ in sink.requests] == [
        "/twiml/status",
        "/twiml/status",
        "/twiml/status",
        "/twiml/voice_outbound",
        "/twiml/status",
    ]
    for (path, form_sent, headers), url in zip(
        sink.requests, [STATUS_URL] * 3 + [VOICE_URL, STATUS_URL], strict=True
    ):
        assert is_valid_signature(SINK_TOKEN, url, form_sent, headers[SIGNATURE_HEADER.lower()]), path
    voice_form = sink.of("/twiml/voice_outbound")[0][1]
    assert voice_form == {
        "AccountSid": SINK_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Called": TO,
        "Caller": FROM,
        "Direction": "outbound-api",
        "From": FROM,
        "To": TO,
    }
    statuses = [form_sent["CallStatus"] for path, form_sent, _ in sink.requests if path == "/twiml/status"]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]


async def test_wrong_credentials_are_a_401_twilio_error(sink_standin: TwilioStandIn) -> None:
    gateway = TwilioGateway(SINK_SID, "wrong-token", api_base=sink_standin.api_base)
    with pytest.raises(TwilioError) as raised:
        await _create(gateway)
    assert (raised.value.status, raised.value.code, raised.value.is_client_error) == (401, 20003, True)
    assert sink_standin.calls == {}


async def test_invalid_number_is_21211(gateway: TwilioGateway) -> None:
    with pytest.raises(TwilioError) as raised:
        await _create(gateway, to="5551234")
    assert (raised.value.status, raised.value.code) == (400, 21211)
    assert "not a valid phone number" in raised.value.message


async def test_twilio_5xx_is_a_server_error(gateway: TwilioGateway, sink_standin: TwilioStandIn) -> None:
    sink_standin.fail_next_create(500, 20500, "Internal Server Error")
    with pytest.raises(TwilioError) as raised:
        await _create(gateway)
    assert (raised.value.status, raised.value.code, raised.value.is_client_error) == (500, 20500, False)
    assert await _create(gateway)  # only the next create failed


async def test_unreachable_twilio_is_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = TwilioGateway(SINK_SID, SINK_TOKEN, api_base=f"http://127.0.0.1:{port}", timeout_s=2.0)
    with pytest.raises(TwilioError) as raised:
        await _create(gateway)
    assert raised.value.status == 502 and raised.value.code is None


async def test_missing_credentials_are_reported_not_sent() -> None:
    gateway = TwilioGateway("", "", api_base="http://127.0.0.1:9")
    with pytest.raises(TwilioError) as raised:
        await _create(gateway)
    assert "SDR_TWILIO_ACCOUNT_SID" in raised.value.message


async def test_end_call_completes_the_call_through_rest(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    fake_agent.behaviour = _keep_open
    call_sid = await _create(gateway)
    await sink_standin.wait_for_stream(call_sid)

    await gateway.hangup(call_sid)

    call = await sink_standin.wait_for_call(call_sid, timeout=5)
    assert call.rest_updates == [{"Status": "completed"}]
    assert call.ended_by == "agent-hangup"
    stream = fake_agent.streams[0]
    assert stream.of("stop") == [
        {
            "event": "stop",
            "sequenceNumber": stream.of("stop")[0]["sequenceNumber"],
            "streamSid": stream.stream_sid,
            "stop": {"accountSid": SINK_SID, "callSid": call_sid},
        }
    ]
    completed = call.callbacks_for("completed")[0]
    assert completed.form["CallStatus"] == "completed" and completed.form["CallDuration"].isdigit()
    await gateway.hangup(call_sid)  # already over: still fine


async def test_hangup_of_an_unknown_call_is_fine_but_redirect_is_not(gateway: TwilioGateway) -> None:
    await gateway.hangup("CA" + "0" * 32)
    with pytest.raises(TwilioError) as raised:
        await gateway.redirect("CA" + "0" * 32, transfer_twiml("+15550001111"))
    assert (raised.value.status, raised.value.code) == (404, 20404)


async def test_transfer_redirects_the_live_call_to_dial(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    fake_agent.behaviour = _keep_open
    call_sid = await _create(gateway)
    await sink_standin.wait_for_stream(call_sid)

    await gateway.redirect(call_sid, transfer_twiml("+15550001111", say="Connecting you now."))

    call = await sink_standin.wait_for_call(call_sid, timeout=5)
    assert call.rest_updates == [{"Twiml": transfer_twiml("+15550001111", say="Connecting you now.")}]
    assert call.said == ["Connecting you now."] and call.dialed == ["+15550001111"]
    assert call.ended_by == "transferred"
    assert fake_agent.streams[0].of("stop"), "the stream ends when the call is redirected"
    with pytest.raises(TwilioError) as raised:
        await gateway.redirect(call_sid, transfer_twiml("+15550001111"))
    assert raised.value.code == 21220


async def test_calls_of_an_imported_number_are_ended_with_its_own_account(
    sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    other_sid, other_token = "AC" + "4" * 32, "number-token"
    sink_standin.add_account(other_sid, other_token)
    fake_agent.behaviour = _keep_open
    gateway = TwilioGateway(SINK_SID, SINK_TOKEN, api_base=sink_standin.api_base)
    call_sid = await gateway.create_call(
        to=TO,
        from_=FROM,
        url=VOICE_URL,
        status_callback=STATUS_URL,
        account_sid=other_sid,
        auth_token=other_token,
    )
    await sink_standin.wait_for_stream(call_sid)

    # The number's credentials come from the database (telephony.answer.call_credentials), not from memory.
    await gateway.hangup(call_sid, (other_sid, other_token))

    call = await sink_standin.wait_for_call(call_sid, timeout=5)
    assert call.account_sid == other_sid and call.ended_by == "agent-hangup"
    assert sink_standin.rest_requests[-1][1] == f"/2010-04-01/Accounts/{other_sid}/Calls/{call_sid}.json"


async def test_hangup_before_answer_cancels(gateway: TwilioGateway, sink_standin: TwilioStandIn) -> None:
    sink_standin.set_script(None, ring_ms=300)
    call_sid = await _create(gateway)
    await asyncio.sleep(0.05)
    await gateway.hangup(call_sid)

    call = await sink_standin.wait_for_call(call_sid, timeout=5)
    assert call.status == "canceled" and call.stream_url is None
    assert call.callbacks_for("completed")[0].form["CallStatus"] == "canceled"
