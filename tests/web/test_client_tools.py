"""Client tools on the realtime socket: the SDK's ClientTools runs the tool the model called, its result
reaches the model and the transcript records the call; a client that never answers gets a timeout, not a
stuck agent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.conversational_ai.conversation import ClientTools, Conversation
from fastapi import FastAPI
from websockets.sync.client import connect

from sdr_agent.app import create_app
from sdr_agent.engines.base import ToolCall
from sdr_agent.engines.factory import EngineSet
from sdr_agent.engines.fakes import FakeLLM, FakeReply, FakeSTT, FakeTTS, FakeVAD
from sdr_agent.settings import RealtimeSettings, Settings
from sdr_agent.voice.runtime import voice_runtime
from tests.conftest import API_KEY, LiveServer
from tests.web.conftest import Waiter

pytestmark = [
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]
SCREEN_TOOL = {
    "type": "client", "name": "get_screen", "description": "What page the visitor is looking at.",
    "parameters": {"type": "object", "properties": {"detail": {"type": "string"}}},
    "expects_response": True,
}


@pytest.fixture
def scripted() -> FakeLLM:
    return FakeLLM([
        FakeReply(tool_calls=(ToolCall("call_1", "get_screen", {"detail": "page"}),)),
        "I can see you are on the pricing page.",
    ])


@pytest.fixture
def tool_server(settings: Settings, scripted: FakeLLM) -> Iterator[str]:
    quick = settings.model_copy(update={"realtime": RealtimeSettings(client_tool_timeout_s=1.0)})
    app: FastAPI = create_app(quick)
    server = LiveServer(app)
    server.start()
    voice_runtime(app.state.services).engines = EngineSet(
        stt=FakeSTT(), tts=FakeTTS(), llm=scripted, vad_factory=FakeVAD, embedder=None
    )
    try:
        yield server.url
    finally:
        server.stop()


def _agent(base: str) -> str:
    created = httpx.post(f"{base}/v1/convai/agents/create", headers={"xi-api-key": API_KEY}, json={
        "name": "Helper", "conversation_config": {"agent": {
            "first_message": "Hi there.", "prompt": {"prompt": "Help visitors.", "tools": [SCREEN_TOOL]}}},
    })
    created.raise_for_status()
    return str(created.json()["agent_id"])


def test_sdk_client_tool_result_reaches_the_model_and_the_transcript(
    tool_server: str, scripted: FakeLLM
) -> None:
    agent_id = _agent(tool_server)
    calls: list[dict[str, object]] = []
    tools = ClientTools()
    tools.register("get_screen", lambda params: calls.append(params) or "the pricing page")
    replies = Waiter()
    client = ElevenLabs(api_key=API_KEY, base_url=tool_server)
    conversation = Conversation(client, agent_id, requires_auth=True, client_tools=tools,
                                callback_agent_response=replies.add)
    conversation.start_session()
    try:
        replies.wait_for(lambda r: len(r) >= 1)
        conversation.send_user_message("what am I looking at right now?")
        got = replies.wait_for(lambda r: len(r) >= 2)
    finally:
        conversation.end_session()
    conversation_id = conversation.wait_for_session_end()
    assert got[1] == "I can see you are on the pricing page."
    assert calls and calls[0]["detail"] == "page" and calls[0]["tool_call_id"] == "call_1"
    spec_names = [tool.name for tool in scripted.requests[0].tools]
    assert "get_screen" in spec_names
    follow_up = json.dumps([m.content for m in scripted.requests[-1].messages])
    assert "the pricing page" in follow_up  # the client's result went back to the model
    with httpx.Client(base_url=tool_server, headers={"xi-api-key": API_KEY}) as http:
        deadline = time.monotonic() + 20
        while (stored := http.get(f"/v1/convai/conversations/{conversation_id}").json())["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    agent_turn = next(t for t in stored["transcript"] if t["tool_calls"])
    assert agent_turn["tool_calls"][0]["tool_name"] == "get_screen"
    assert agent_turn["tool_calls"][0]["type"] == "client"
    assert agent_turn["tool_results"][0]["result_value"] == "the pricing page"


def test_a_client_that_never_answers_times_out_and_the_agent_goes_on(tool_server: str) -> None:
    agent_id = _agent(tool_server)
    url = httpx.get(f"{tool_server}/v1/convai/conversation/get-signed-url", params={"agent_id": agent_id},
                    headers={"xi-api-key": API_KEY}).json()["signed_url"]
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "conversation_initiation_client_data",
                            "conversation_config_override": {"conversation": {"text_only": True}}}))
        kinds = [json.loads(ws.recv(timeout=10))["type"] for _ in range(2)]
        assert kinds == ["conversation_initiation_metadata", "agent_response"]
        ws.send(json.dumps({"type": "user_message", "text": "what am I looking at?"}))
        call = json.loads(ws.recv(timeout=10))
        assert call["type"] == "client_tool_call"
        assert call["client_tool_call"]["tool_name"] == "get_screen"
        started = time.monotonic()
        reply = json.loads(ws.recv(timeout=10))  # no result sent: the 1 s timeout answers for the client
        assert reply["type"] == "agent_response" and time.monotonic() - started >= 0.9
        call_id = call["client_tool_call"]["tool_call_id"]
        ws.send(json.dumps({"type": "client_tool_result", "tool_call_id": call_id, "result": "too late",
                            "is_error": False}))  # a late result is ignored
        ws.send(json.dumps({"type": "user_message", "text": "thanks"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "agent_response"
