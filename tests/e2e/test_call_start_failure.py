"""A call whose loop cannot start (the recogniser will not open) still ends on the record: finish() runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sdr_agent.engines.factory import EngineSet
from sdr_agent.engines.fakes import FakeSTT, FakeSTTStream, FakeTTS, FakeVAD
from sdr_agent.engines.local.grounded import GroundedResponder
from sdr_agent.sim.local_stack import LocalStack, local_stack

CALL_SID = "CA" + "7" * 32


class DeadSTT(FakeSTT):
    async def open_stream(self) -> FakeSTTStream:
        raise ConnectionError("recogniser unreachable")


@pytest.fixture
async def stack() -> AsyncIterator[LocalStack]:
    overrides: dict[str, Any] = {
        "stt": {"provider": "fake", "fallback": "none"},
        "tts": {"provider": "fake", "fallback": "none"},
        "llm": {"provider": "grounded", "fallback": "none"},
        "vad": {"provider": "fake"},
    }
    async with local_stack(settings_overrides=overrides) as running:
        running.app.state.services.voice.engines = EngineSet(
            stt=DeadSTT(), tts=FakeTTS(), llm=GroundedResponder(), vad_factory=FakeVAD, embedder=None,
        )
        yield running


async def test_a_call_loop_that_fails_to_start_is_still_finished(stack: LocalStack) -> None:
    import websockets

    from sdr_agent.storage.repos.agents import create_agent
    from sdr_agent.storage.repos.conversations import create_conversation
    from sdr_agent.telephony.twilio.tokens import call_tokens

    services = stack.app.state.services
    async with services.db.session() as session:
        config = {"agent": {"first_message": "Hi."}}
        agent = await create_agent(session, name="Alex", conversation_config=config)
        conversation = await create_conversation(
            session, agent_id=agent.agent_id, direction="outbound", call_sid=CALL_SID
        )
    token = await call_tokens(services).issue(CALL_SID)
    ws_url = stack.base_url.replace("http://", "ws://") + f"/ws/voice/{CALL_SID}"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "streamSid": "MZ7", "start": {
            "streamSid": "MZ7", "callSid": CALL_SID, "accountSid": "AC1",
            "customParameters": {"token": token}, "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    done = await stack.wait_for_status(conversation.conversation_id, {"done", "failed"}, timeout=10.0)
    assert done["status"] == "failed"
    assert CALL_SID not in services.voice.calls
