"""A whole phone call on 127.0.0.1 with the cloud engine adapters: the real server, the Twilio stand-in
playing a caller voiced by the offline TTS, Deepgram STT/TTS pointed at the Deepgram stand-in and the LLM
at the Ollama stand-in. Checks that every caller line is heard as its own turn (no drift between the script
and the transcript) and that a failing LLM is carried by the grounded fallback, recorded on the call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sdr_agent.demo.scenario import CallerLine, render_caller_script
from sdr_agent.engines.factory import build_tts
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.call_record import SimulatedCall
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.cloud_standins import CloudStandIns
from sdr_agent.sim.local_stack import LocalStack, local_stack

pytestmark = pytest.mark.engines  # the caller's voice comes from HibariTTS and the server runs Silero VAD

PROSPECT = "+15551234567"
FACTS = (
    "# Pricing\nThe Team plan costs 49 dollars per user per month.\n\n"
    "# Trial\nEvery new account gets a 14-day free trial.\n"
)
# No comma pause inside the greeting: the Deepgram stand-in hands over the whole scripted line at the first
# endpoint, so a finished sentence would arrive while the caller is only pausing (real Deepgram would send
# "Hi, yes," and the end of turn would wait) and the agent's reply would be cut by the rest of the line.
GREETING = CallerLine("greeting", "Hi there this is Jordan speaking.")
PRICING = CallerLine("pricing", "How much does the Team plan cost?")
GOODBYE = CallerLine("goodbye", "Great, thank you, goodbye.")
REPLIES = ("Nice to meet you, Jordan.", "The Team plan is 49 dollars per user per month.")
REPROMPT = "are you still there"


@pytest.fixture
async def cloud() -> AsyncIterator[CloudStandIns]:
    async with CloudStandIns(replies=REPLIES) as standins:
        yield standins


@pytest.fixture
async def stack(cloud: CloudStandIns) -> AsyncIterator[LocalStack]:
    overrides: dict[str, Any] = cloud.settings_overrides()
    # The LLM keeps its grounded fallback (under test); a Whisper fallback for STT would only add start-up.
    overrides["stt"]["fallback"] = "none"
    async with local_stack(settings_overrides=overrides) as running:
        yield running


async def _call(stack: LocalStack, cloud: CloudStandIns, lines: tuple[CallerLine, ...]) -> tuple[
    dict[str, Any], SimulatedCall
]:
    cloud.deepgram.utterances.extend(line.text for line in lines)
    script = await render_caller_script(build_tts(TTSSettings()), lines)
    document_id = await stack.create_document("facts", FACTS)
    agent_id = await stack.create_agent({
        "name": "Alex",
        "conversation_config": {
            "agent": {
                "first_message": "Hi {{name}}, this is Alex from Acme Cloud.",
                "prompt": {"prompt": "Be brief.",
                           "knowledge_base": [{"type": "text", "id": document_id, "name": "facts"}]},
            },
            # No "Sure." filler before a slow reply: these tests compare the spoken replies word for word.
            "turn": {"turn_timeout": 7, "fillers": []},
        },
    })
    number_id = await stack.import_number(agent_id)
    stack.twilio.set_script(PROSPECT, script)
    conversation_id, call_sid = await stack.place_call(agent_id, number_id, PROSPECT, {"name": "Jordan"})
    call = await stack.twilio.wait_for_call(call_sid, timeout=35)
    conversation = await stack.wait_for_status(conversation_id, {"done", "failed"}, timeout=10)
    return conversation, call


def _messages(conversation: dict[str, Any], role: str) -> list[str]:
    return [t["message"] or "" for t in conversation["transcript"] if t["role"] == role]


async def test_every_caller_line_is_one_turn_and_the_scripted_replies_are_spoken(
    stack: LocalStack, cloud: CloudStandIns
) -> None:
    conversation, call = await _call(stack, cloud, (GREETING, PRICING, GOODBYE))

    assert conversation["status"] == "done" and call.status == "completed"
    assert _messages(conversation, "user") == [GREETING.text, PRICING.text, GOODBYE.text]
    agent = _messages(conversation, "agent")
    assert agent[0] == "Hi Jordan, this is Alex from Acme Cloud."
    assert agent[1:3] == list(REPLIES)
    assert "goodbye" in agent[-1].lower() and not any(REPROMPT in m.lower() for m in agent)
    # The LLM was asked about exactly what the caller said, line by line.
    asked = [r["messages"][-1]["content"] for r in cloud.ollama.requests[:2]]
    assert [GREETING.text, PRICING.text] == [text.strip() for text in asked]
    assert "Finalize" in cloud.deepgram.controls and not cloud.deepgram.utterances
    assert all(turn.first_agent_audio_ms is not None for turn in call.turns), "every line got a spoken answer"
    assert not conversation["metadata"].get("engine_switches")


async def test_a_failing_llm_is_carried_by_the_grounded_fallback(
    stack: LocalStack, cloud: CloudStandIns
) -> None:
    cloud.ollama.faults = FaultPlan(http_status=500, times=None)  # down for the whole call, probes included

    conversation, call = await _call(stack, cloud, (PRICING, GOODBYE))

    assert conversation["status"] == "done" and call.status == "completed"
    assert _messages(conversation, "user") == [PRICING.text, GOODBYE.text]
    agent = _messages(conversation, "agent")
    assert any("49 dollars" in message for message in agent[1:-1]), agent  # answered from the knowledge base
    assert not any(REPROMPT in m.lower() for m in agent)
    assert call.turns[0].first_agent_audio_ms is not None, "the caller heard an answer to the question"
    assert cloud.ollama.faults.hits >= 1
    switches = conversation["metadata"]["engine_switches"]
    assert switches and switches[0]["kind"] == "llm"
    assert switches[0]["from_engine"] == "ollama" and switches[0]["to_engine"] == "grounded"
    assert "500" in switches[0]["reason"]
