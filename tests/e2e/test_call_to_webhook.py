"""A whole call on 127.0.0.1 with scripted engines: outbound API → Twilio stand-in → media stream → call loop
(barge-in, grounded answer from the knowledge base, goodbye and hang-up) → stored conversation with analysis →
signed post-call webhook that the official SDK verifies. Plus a media stream full of malformed frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from elevenlabs import ElevenLabs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.engines.factory import EngineSet
from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, marker_speech
from sdr_agent.engines.local.grounded import GroundedResponder
from sdr_agent.sim.caller_script import CallerScript, CallerTurn
from sdr_agent.sim.local_stack import LocalStack, local_stack
from sdr_agent.sim.loopback_server import LoopbackServer

PROSPECT = "+15551234567"
FACTS = (
    "# Pricing\nThe Team plan costs 49 dollars per user per month.\n\n"
    "# Trial\nEvery new account gets a 14-day free trial.\n"
)
LINES = {
    300.0: "how much does the team plan cost",
    400.0: "wait is there a free trial",
    500.0: "ok thanks goodbye",
}


class WebhookReceiver:
    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict[str, str]]] = []
        self.arrived = asyncio.Event()
        self.server = LoopbackServer(Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]))

    async def _hook(self, request: Request) -> Response:
        self.deliveries.append(((await request.body()).decode(), dict(request.headers)))
        self.arrived.set()
        return Response(status_code=200)


@pytest.fixture
async def stack() -> AsyncIterator[LocalStack]:
    overrides: dict[str, Any] = {
        "stt": {"provider": "fake", "fallback": "none"},
        "tts": {"provider": "fake", "fallback": "none"},
        "llm": {"provider": "grounded", "fallback": "none"},
        "vad": {"provider": "fake"},
    }
    async with local_stack(settings_overrides=overrides) as running:
        runtime = running.app.state.services.voice
        # The caller's lines are told apart by pitch (FakeSTT marker mode), so the script is unambiguous.
        runtime.engines = EngineSet(
            stt=FakeSTT(markers=LINES, partial_after_ms=80.0), tts=FakeTTS(ms_per_char=35.0),
            llm=GroundedResponder(), vad_factory=FakeVAD, embedder=None,
        )
        yield running


async def _register_webhook(stack: LocalStack, url: str) -> str:
    created = await stack.api.post(
        "/v1/workspace/webhooks", json={"name": "crm", "webhook_url": url, "auth_type": "hmac"}
    )
    created.raise_for_status()
    body = created.json()
    selected = await stack.api.patch(
        "/v1/convai/settings",
        json={"webhooks": {"post_call_webhook_id": body["webhook_id"], "events": ["transcript"]}},
    )
    selected.raise_for_status()
    return str(body["webhook_secret"])


def _line(f0: float, ms: float) -> bytes:
    return pcm_to_ulaw(marker_speech(f0, ms))


async def test_call_answers_from_kb_survives_a_barge_in_and_sends_a_signed_webhook(stack: LocalStack) -> None:
    receiver = WebhookReceiver()
    await receiver.server.start()
    try:
        secret = await _register_webhook(stack, f"{receiver.server.url}/hook")
        document_id = await stack.create_document("facts", FACTS)
        agent_id = await stack.create_agent({
            "name": "Alex",
            "conversation_config": {"agent": {
                "first_message": "Hi {{name}}, this is Alex from Acme Cloud, do you have a minute to talk?",
                "prompt": {"prompt": "Be brief.", "knowledge_base": [{"type": "text", "id": document_id,
                                                                       "name": "facts"}]}},
                # No "Sure." filler before a slow reply: the heard part of the answer is compared with the KB.
                "turn": {"fillers": []}},
        })
        number_id = await stack.import_number(agent_id)
        stack.twilio.set_script(PROSPECT, CallerScript((
            CallerTurn(_line(300.0, 1200), delay_ms=500, label="pricing"),
            CallerTurn(_line(400.0, 1200), when="during_agent_speech", delay_ms=700, label="barge-in"),
            CallerTurn(_line(500.0, 900), delay_ms=500, label="goodbye"),
        )))
        conversation_id, call_sid = await stack.place_call(agent_id, number_id, PROSPECT, {"name": "Jordan"})
        call = await stack.twilio.wait_for_call(call_sid, timeout=60)
        conversation = await stack.wait_for_status(conversation_id, {"done", "failed"}, timeout=15)
        await asyncio.wait_for(receiver.arrived.wait(), timeout=15)
    finally:
        await receiver.server.stop()

    assert call.status == "completed"
    assert conversation["status"] == "done"
    transcript = conversation["transcript"]
    users = [t["message"] for t in transcript if t["role"] == "user"]
    agents = [t for t in transcript if t["role"] == "agent"]
    assert users == list(LINES.values())
    interrupted = [t for t in agents if t["interrupted"]]
    assert len(interrupted) == 1 and call.clears, "the barge-in cut the agent with a clear"
    # The pricing answer comes from the KB, and only the part the caller heard before cutting in is kept.
    heard = interrupted[0]["message"]
    assert heard and "The Team plan costs 49 dollars per user per month.".startswith(heard)
    assert any("14-day" in (t["message"] or "") for t in agents)
    assert any(u.get("Status") == "completed" for u in call.rest_updates)  # hung up through the REST API

    raw, headers = receiver.deliveries[0]
    signature = headers["elevenlabs-signature"]
    event = ElevenLabs(api_key="unused").webhooks.construct_event(raw, signature, secret)
    assert event["type"] == "post_call_transcription"
    data = event["data"]
    assert data["conversation_id"] == conversation_id
    assert data["analysis"]["transcript_summary"]
    assert data["analysis"]["call_successful"] in {"success", "failure", "unknown"}
    assert "meeting_booked" in data["analysis"]["data_collection_results"]
    assert json.loads(raw)["data"]["transcript"][0]["role"] == "agent"


async def test_malformed_media_frames_are_skipped_and_the_call_goes_on(stack: LocalStack) -> None:
    import websockets

    from sdr_agent.storage.repos.agents import create_agent
    from sdr_agent.storage.repos.conversations import create_conversation
    from sdr_agent.telephony.twilio.tokens import call_tokens

    services = stack.app.state.services
    async with services.db.session() as session:
        config = {"agent": {"first_message": "Hi."}}
        agent = await create_agent(session, name="Alex", conversation_config=config)
        conversation = await create_conversation(
            session, agent_id=agent.agent_id, direction="outbound", call_sid="CA" + "1" * 32
        )
    token = await call_tokens(services).issue("CA" + "1" * 32)
    ws_url = stack.base_url.replace("http://", "ws://") + f"/ws/voice/CA{'1' * 32}"
    silence = json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": "/////w=="}})
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {
            "streamSid": "MZ1", "callSid": "CA" + "1" * 32, "accountSid": "AC1",
            "customParameters": {"token": token}, "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        for garbage in ["{not json", json.dumps({"event": "media", "media": {"payload": "***"}}),
                        json.dumps({"event": "bogus"}), json.dumps([1, 2])]:
            await ws.send(garbage)
        await ws.send(b"\x00\x01binary")
        for _ in range(25):
            await ws.send(silence)
            await asyncio.sleep(0.02)
        agent_audio = 0
        with_deadline = asyncio.get_running_loop().time() + 5
        while agent_audio == 0 and asyncio.get_running_loop().time() < with_deadline:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            agent_audio += message["event"] == "media"
        await ws.send(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA" + "1" * 32}}))
    assert agent_audio, "the agent kept talking after the malformed frames"
    done = await stack.wait_for_status(conversation.conversation_id, {"done", "failed"}, timeout=15)
    assert done["status"] == "done"
    stats = done["metadata"]["call_stats"]
    assert stats["malformed_frames"] >= 5
