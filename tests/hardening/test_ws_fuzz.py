"""WebSocket fuzz of the Twilio media stream: malformed JSON, bad base64, out-of-order events, oversized
frames, floods and sockets that never send ``start``. Abusive sockets are closed with a clear code and
counted; a live call that receives garbage keeps going; a normal call alongside never notices."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from typing import Any

import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.sim.twiml_reader import read_twiml
from tests.conftest import TWILIO_SID, TWILIO_TOKEN
from tests.live_call import live_twilio  # noqa: F401 (fixture: twilio)
from tests.telephony.support import make_agent, make_number

AGENT_NUMBER = "+15550009999"
CALLEE = "+15551234567"
SILENCE = base64.b64encode(b"\xff" * 160).decode()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.security.ws_start_timeout_s = 0.6
    settings.security.ws_max_frames_per_s = 100
    settings.security.ws_max_frame_bytes = 16 * 1024
    return settings


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def _ws_url(live_server: str, call_sid: str) -> str:
    return live_server.replace("http://", "ws://") + f"/ws/voice/{call_sid}"


async def _closed(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, str]:
    """Read (and drop) whatever the server sends until it closes; returns the close code and reason."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or ""


async def _start_live_call(app: FastAPI, live_server: str, call_sid: str) -> dict[str, Any]:
    """What Twilio does for an inbound call: the signed webhook, then connected + start with the token."""
    import httpx

    services = _services(app)
    agent_id = await make_agent(services, first_message="Hello there, this is Alex from Acme, how are you?")
    await make_number(services, AGENT_NUMBER, agent_id)
    form = {"CallSid": call_sid, "AccountSid": TWILIO_SID, "From": CALLEE, "To": AGENT_NUMBER,
            "CallStatus": "ringing", "Direction": "inbound"}
    url = "https://agent.test/twiml/voice_inbound"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    async with httpx.AsyncClient(base_url=live_server, trust_env=False) as http:
        twiml = await http.post("/twiml/voice_inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert twiml.status_code == 200, twiml.text
    parameters = read_twiml(twiml.text)[0].stream_parameters
    stream_sid = "MZ" + "a" * 32
    return {
        "event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
        "start": {"accountSid": TWILIO_SID, "streamSid": stream_sid, "callSid": call_sid,
                  "tracks": ["inbound"], "customParameters": parameters,
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    }


def _garbage(rng: random.Random, stream_sid: str) -> list[str | bytes]:
    """One round of hostile frames a broken or malicious peer might send mid-call."""
    media = {"event": "media", "streamSid": stream_sid, "media": {"track": "inbound", "payload": SILENCE}}
    return [
        "{not json",
        "",
        "null",
        "[1, 2, 3]",
        json.dumps({"event": 42}),
        json.dumps({"event": "media", "media": {"payload": "!!!not base64!!!"}}),
        json.dumps({"event": "media", "media": {"payload": base64.b64encode(b"\x00" * 7).decode()}}),
        json.dumps({"event": "media", "media": None}),
        json.dumps({"event": "start", "start": {"callSid": "CA-other"}}),  # a second start: out of order
        json.dumps({"event": "connected"}),  # out of order too
        json.dumps({"event": "mark", "mark": {"name": "never-sent"}}),
        json.dumps({"event": "dtmf", "dtmf": {"digit": "ZZ"}}),
        json.dumps({"event": "unknown-event", "x": "y" * 100}),
        bytes(rng.getrandbits(8) for _ in range(64)),  # binary frames are invalid on a Media Stream
        json.dumps(media),
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
    ]


async def test_socket_that_never_sends_start_is_closed_and_counted(app: FastAPI, live_server: str) -> None:
    async with connect(_ws_url(live_server, "CA" + "1" * 32), proxy=None) as silent:
        code, reason = await _closed(silent)
    assert code == 1008 and "no start" in reason
    # Sending `connected` over and over does not extend the deadline.
    async with connect(_ws_url(live_server, "CA" + "2" * 32), proxy=None) as chatty:
        for _ in range(30):
            try:
                await chatty.send(json.dumps({"event": "connected", "protocol": "Call"}))
            except ConnectionClosed:
                break
            await asyncio.sleep(0.05)
        code, reason = await _closed(chatty)
    assert code == 1008 and "no start" in reason
    assert app.state.socket_rejections[("media_stream", "no_start")] == 2


async def test_oversized_frames_and_floods_are_closed_with_their_codes(
    app: FastAPI, live_server: str
) -> None:
    async with connect(_ws_url(live_server, "CA" + "3" * 32), proxy=None, max_size=None) as big:
        await big.send("x" * (100 * 1024))
        code, reason = await _closed(big)
    assert code == 1009 and "bytes" in reason
    async with connect(_ws_url(live_server, "CA" + "4" * 32), proxy=None) as flood:
        try:
            for _ in range(2000):
                await flood.send(json.dumps({"event": "connected"}))
        except ConnectionClosed:
            pass
        code, reason = await _closed(flood)
    assert code == 1008 and "frames per second" in reason
    tally = app.state.socket_rejections
    assert tally[("media_stream", "oversized_frame")] == 1 and tally[("media_stream", "flood")] == 1


async def test_garbage_mid_call_is_skipped_while_a_normal_call_alongside_goes_on(
    app: FastAPI, live_server: str, twilio: TwilioStandIn
) -> None:
    rng = random.Random(7)
    start = await _start_live_call(app, live_server, "CA" + "5" * 32)
    stream_sid = start["streamSid"]
    # A normal call placed through the Twilio stand-in, at the same time.
    services = _services(app)
    normal_agent = await make_agent(services, first_message="Hi, this is Alex from Acme.")
    twilio.set_script(CALLEE, hangup_at_s=3.0)

    async def normal_call() -> Any:
        import httpx

        async with httpx.AsyncClient(base_url=live_server, headers={"xi-api-key": "test-key"},
                                     trust_env=False, timeout=15) as api:
            body = {"agent_id": normal_agent, "to_number": CALLEE}
            placed = await api.post("/v1/convai/outbound", json=body)
            assert placed.status_code == 200, placed.text
            return await twilio.wait_for_call(placed.json()["call_sid"], timeout=30)

    normal = asyncio.create_task(normal_call())
    heard_media = 0
    async with connect(_ws_url(live_server, "CA" + "5" * 32), proxy=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        for _round in range(6):
            for frame in _garbage(rng, stream_sid):
                await ws.send(frame)
            for _ in range(10):  # real audio between the garbage, at Twilio's pace
                await ws.send(json.dumps({"event": "media", "streamSid": stream_sid,
                                          "media": {"track": "inbound", "payload": SILENCE}}))
                await asyncio.sleep(0.02)
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), 0.01)
                except TimeoutError:
                    break
                heard_media += json.loads(message).get("event") == "media"
        assert ws.close_code is None  # garbage never ended the call
        await ws.send(json.dumps({"event": "stop", "streamSid": stream_sid}))
    assert heard_media > 0  # the agent kept talking through it
    call = await normal
    assert call.protocol_errors == [] and len(call.heard_audio) > 8000
    assert call.stream_close_code != 1008


async def test_conversation_socket_has_the_same_limits(app: FastAPI, live_server: str) -> None:
    agent_id = await make_agent(_services(app))
    url = live_server.replace("http://", "ws://") + f"/v1/convai/conversation?agent_id={agent_id}"
    headers = {"xi-api-key": "test-key"}
    async with connect(url, additional_headers=headers, proxy=None, max_size=None) as big:
        await big.send(json.dumps({"type": "conversation_initiation_client_data"}))
        await big.send(json.dumps({"user_audio_chunk": "A" * (100 * 1024)}))
        code, _ = await _closed(big)
    assert code == 1009
    async with connect(url, additional_headers=headers, proxy=None) as flood:
        try:
            for _ in range(2000):
                await flood.send(json.dumps({"type": "user_activity"}))
        except ConnectionClosed:
            pass
        code, reason = await _closed(flood)
    assert code == 1008 and "frames per second" in reason
    tally = app.state.socket_rejections
    assert tally[("conversation", "oversized_frame")] == 1 and tally[("conversation", "flood")] == 1
