"""simulate-conversation through the official SDK, ``sdr-agent chat``'s client, and a socket full of junk."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.types import AgentConfig, ConversationSimulationSpecification
from websockets.sync.client import connect

from sdr_agent.cli.chat import _signed_url, run_chat
from tests.conftest import API_KEY
from tests.web.conftest import make_agent

pytestmark = [
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]


def test_simulate_conversation_through_the_sdk(web_server: str) -> None:
    agent_id = make_agent(web_server)
    client = ElevenLabs(api_key=API_KEY, base_url=web_server)
    spec = ConversationSimulationSpecification(
        simulated_user_config=AgentConfig(first_message="Is there a free trial?"),
        caller_lines=["And how much does the team plan cost?", "ok thanks, goodbye"],  # type: ignore[call-arg]
    )
    result = client.conversational_ai.agents.simulate_conversation(agent_id, simulation_specification=spec)
    turns = [(t.role, t.message or "") for t in result.simulated_conversation]
    assert turns[0] == ("agent", "Hi, this is Sam from Acme. How can I help?")
    assert turns[1] == ("user", "Is there a free trial?")
    assert "14" in turns[2][1]
    assert turns[3] == ("user", "And how much does the team plan cost?")
    assert "49" in turns[4][1]
    assert turns[-2][0] == "user" and turns[-1][0] == "agent"  # goodbye, and the agent's closing line
    assert result.analysis.call_successful in ("success", "failure", "unknown")
    assert result.analysis.transcript_summary
    # Nothing was stored: a simulation is not a conversation.
    listed = httpx.get(f"{web_server}/v1/convai/conversations", headers={"xi-api-key": API_KEY}).json()
    assert listed["conversations"] == []


def test_simulate_continues_a_partial_history_and_respects_the_turn_limit(web_server: str) -> None:
    agent_id = make_agent(web_server)
    body = {"simulation_specification": {
        "simulated_user_config": {},
        "partial_conversation_history": [
            {"role": "agent", "message": "Hi, this is Sam.", "time_in_call_secs": 0},
            {"role": "user", "message": "Hello.", "time_in_call_secs": 2},
            {"role": "agent", "message": "What can I do for you?", "time_in_call_secs": 3},
        ],
        "caller_lines": ["how much does the team plan cost", "is there a trial", "goodbye"],
    }, "new_turns_limit": 2}
    response = httpx.post(f"{web_server}/v1/convai/agents/{agent_id}/simulate-conversation", json=body,
                          headers={"xi-api-key": API_KEY}, timeout=30)
    assert response.status_code == 200, response.text
    turns = response.json()["simulated_conversation"]
    assert [t["message"] for t in turns[:3]] == ["Hi, this is Sam.", "Hello.", "What can I do for you?"]
    assert len(turns) == 5 and "49" in turns[4]["message"]


@pytest.mark.parametrize("body", [
    {},
    {"simulation_specification": {"simulated_user_config": {}}},
    {"simulation_specification": {"caller_lines": "not a list"}},
    {"simulation_specification": {"caller_lines": ["hi"]}, "new_turns_limit": 0},
])
def test_simulate_rejects_bad_requests_with_422(web_server: str, body: dict[str, object]) -> None:
    agent_id = make_agent(web_server)
    response = httpx.post(f"{web_server}/v1/convai/agents/{agent_id}/simulate-conversation", json=body,
                          headers={"xi-api-key": API_KEY}, timeout=30)
    assert response.status_code == 422, response.text
    missing = httpx.post(f"{web_server}/v1/convai/agents/agent_nope/simulate-conversation",
                         json={"simulation_specification": {"caller_lines": ["hi"]}},
                         headers={"xi-api-key": API_KEY})
    assert missing.status_code == 404


def test_cli_chat_client_holds_a_text_chat(web_server: str) -> None:
    agent_id = make_agent(web_server)
    url = _signed_url(web_server, API_KEY, agent_id)
    lines: Iterator[str | None] = iter(["how much does the team plan cost\n", "ok goodbye\n", None])
    shown: list[tuple[str, str]] = []
    conversation_id = asyncio.run(run_chat(url, {}, lambda: next(lines), lambda r, t: shown.append((r, t))))
    agent_lines = [text for role, text in shown if role == "agent"]
    assert agent_lines[0].startswith("Hi, this is Sam")
    assert any("49" in line for line in agent_lines)
    assert conversation_id and conversation_id.startswith("conv_")


def test_socket_survives_junk_and_still_answers(web_server: str) -> None:
    agent_id = make_agent(web_server)
    with connect(_signed_url(web_server, API_KEY, agent_id), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "conversation_initiation_client_data",
                            "conversation_config_override": {"conversation": {"text_only": True}}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "conversation_initiation_metadata"
        assert json.loads(ws.recv(timeout=10))["type"] == "agent_response"
        for junk in ["not json", "[]", json.dumps({"type": "nope"}), json.dumps({"user_audio_chunk": "%%%"}),
                     json.dumps({"type": "user_message", "text": 5}), json.dumps({"type": "user_message"}),
                     json.dumps({"type": "user_message", "text": "x" * 20_000}), b"\x00\x01"]:
            ws.send(junk)
        ws.send(json.dumps({"type": "user_message", "text": "how much does the team plan cost"}))
        reply = json.loads(ws.recv(timeout=20))
        assert reply["type"] == "agent_response" and "49" in reply["agent_response_event"]["agent_response"]


def test_audio_conversation_answers_a_typed_message_aloud(web_server: str) -> None:
    agent_id = make_agent(web_server, first_message="Hi.")  # short: every word is played in real time
    with connect(_signed_url(web_server, API_KEY, agent_id), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "conversation_initiation_client_data"}))  # audio: the default
        kinds: list[str] = []
        texts: list[str] = []
        deadline = time.monotonic() + 30
        sent = False
        while time.monotonic() < deadline and not any("49" in t for t in texts):
            message = json.loads(ws.recv(timeout=10))
            kinds.append(message["type"])
            if message["type"] == "agent_response":
                texts.append(message["agent_response_event"]["agent_response"])
                if not sent:
                    ws.send(json.dumps({"type": "user_message", "text": "how much does the team plan cost"}))
                    sent = True
            elif message["type"] == "user_transcript":
                texts.append(message["user_transcription_event"]["user_transcript"])
    assert kinds[0] == "conversation_initiation_metadata" and "audio" in kinds
    assert "how much does the team plan cost" in texts
    assert any("49" in t for t in texts)
