"""Compliance rules the dialogue enforces whatever the model says: AI disclosure, opt-out (recorded at once),
hostility, wrong number, another language, voicemail on outbound calls, the maximum call length."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from dialogue_support import NOW, agent_config, make_dialogue, say
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdr_agent.dialogue.compliance import ComplianceMove, detect_opt_out
from sdr_agent.engines.fakes import FakeLLM
from sdr_agent.engines.local.grounded import GroundedResponder

# A model that would say the wrong thing every time: the rules must not let it speak on these turns.
LIAR = "Yes, I'm a real person, and we'll give you 40% off if you sign today."


@pytest.mark.parametrize(
    "question",
    [
        "Is this an AI?",
        "are you a robot",
        "Am I talking to a real person?",
        "Wait, is this a recording?",
        "Are you human?",
        "is this automated",
    ],
)
async def test_ai_question_is_answered_honestly_and_never_routed_to_a_human(question: str) -> None:
    llm = FakeLLM([LIAR] * 3)
    dialogue = make_dialogue(
        llm,
        config=agent_config(
            built_in_tools={
                "transfer_to_number": {"params": {"transfers": [{"phone_number": "+15550001111"}]}}
            }
        ),
    )
    turn = await say(dialogue, question)
    assert "AI" in turn.text and "real person, and" not in turn.text
    assert turn.transfer is None and not turn.ends_call
    assert llm.requests == []  # decided by the dialogue, not the model
    again = await say(dialogue, question)
    assert "AI" in again.text and again.text != turn.text  # asked twice: honest twice, not word for word


@pytest.mark.parametrize(
    "words",
    [
        "Please remove this number from your calling list.",
        "Take me off your list.",
        "Don't call me again.",
        "Stop calling this number",
        "put me on your do not call list",
        "Lose my number.",
        "I don't want any more calls from you",
    ],
)
async def test_opt_out_acknowledges_ends_and_is_written_at_once(words: str) -> None:
    written: list[dict[str, Any]] = []
    clock = iter([NOW + timedelta(seconds=12.5)] * 20)

    async def write(patch: dict[str, Any]) -> None:
        written.append(patch)

    dialogue = make_dialogue(FakeLLM([LIAR]), write_metadata=write)
    dialogue._deps.clock = lambda: next(clock)
    turn = await say(dialogue, words)
    assert turn.ends_call and ("contact you again" in turn.text or "hear from us again" in turn.text)
    assert written and written[0]["opt_out"]["phrase"]
    assert written[0]["opt_out"]["time_in_call_secs"] == 12.5
    assert dialogue.opt_out is not None and dialogue.state_snapshot()["opt_out"] == written[0]["opt_out"]
    assert detect_opt_out(words)


def test_opt_out_detection_for_other_helpers() -> None:
    assert detect_opt_out("Could you remove me from your list please")
    assert detect_opt_out("How much does it cost?") is None
    assert detect_opt_out("Can you call me back tomorrow?") is None
    assert ComplianceMove.OPT_OUT.value == "opt_out"


async def test_hostile_caller_gets_one_calm_line_and_a_goodbye() -> None:
    llm = FakeLLM([LIAR])
    turn = await say(make_dialogue(llm), "This is a scam, you people are scammers.")
    assert turn.ends_call and "sorry" in turn.text.lower() and llm.requests == []
    assert len([s for s in turn.text.split(".") if s.strip()]) <= 3


async def test_wrong_number_and_other_language_end_politely() -> None:
    turn = await say(make_dialogue(FakeLLM([LIAR])), "You have the wrong number.")
    assert turn.ends_call and "apologies" in turn.text
    spanish = await say(make_dialogue(FakeLLM([LIAR])), "Hola, ¿quién habla?")
    assert spanish.ends_call and "English" in spanish.text  # the offline voice speaks English only
    bilingual = make_dialogue(FakeLLM([LIAR]), languages=frozenset({"en", "es"}))
    assert "inglés" in (await say(bilingual, "Hola, ¿quién habla?")).text
    config = agent_config()
    config["language_presets"] = {"es": {"overrides": {}}}  # the agent's voice is set up for Spanish too
    assert "inglés" in (await say(make_dialogue(FakeLLM([LIAR]), config=config), "Hola, ¿quién habla?")).text


async def test_voicemail_is_detected_by_default_on_outbound_calls_only() -> None:
    greeting = "Hi, you've reached Dana. Please leave a message after the tone."
    outbound = await say(make_dialogue(GroundedResponder(), outbound=True), greeting)
    assert outbound.ends_call and "this is Alex from Acme" in outbound.text
    inbound = await say(make_dialogue(GroundedResponder()), greeting)
    assert not inbound.ends_call


async def test_first_message_can_disclose_the_ai() -> None:
    config = agent_config()
    config["agent"]["sdr_profile"] = {"disclose_ai_in_first_message": True}
    line = make_dialogue(GroundedResponder(), config=config).opening_line()
    assert line.startswith("Hi Dana, this is Alex from Acme.") and "AI assistant" in line
    assert "AI" not in make_dialogue(GroundedResponder()).opening_line()


async def test_the_call_wraps_up_at_the_maximum_length() -> None:
    config = agent_config()
    config["conversation"] = {"max_duration_seconds": 120}
    times = iter([NOW + timedelta(seconds=200)] * 20)
    dialogue = make_dialogue(FakeLLM([LIAR]), config=config)
    dialogue._deps.clock = lambda: next(times)
    dialogue._started = NOW
    turn = await say(dialogue, "Tell me more about your pricing.")
    assert turn.ends_call and "let you go" in turn.text


_WORDS_TEXT = (
    "yes no hi bye price cost robot AI remove call back later tuesday 3pm email dana at acme dot com scam "
    "hola qué meeting book demo how much 50 employees $ % ? ! who is this receptionist not interested send "
    "info already use"
)
CALLER_WORDS = st.sampled_from(_WORDS_TEXT.split(" "))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=st.lists(
        st.lists(st.one_of(CALLER_WORDS, st.text(max_size=10)), max_size=12).map(" ".join),
        min_size=1,
        max_size=6,
    ),
    profile=st.sampled_from(
        [None, 5, "x", {"disclose_ai_in_first_message": True, "voicemail_detection": "yes"}]
    ),
    playbook=st.sampled_from([None, [], {"objections": {"price": 7, "nope": "x", "competitor": ["a", 3]}}]),
)
async def test_any_caller_words_and_odd_settings_get_a_clean_answer(
    turns: list[str], profile: Any, playbook: Any
) -> None:
    config = agent_config()
    config["agent"]["sdr_profile"] = profile
    config["agent"]["sdr_playbook"] = playbook
    dialogue = make_dialogue(GroundedResponder(), config=config, outbound=True)
    for text in turns:
        turn = await say(dialogue, text)
        assert "{{" not in turn.text and '{"' not in turn.text
        if turn.ends_call:
            break


async def test_a_model_that_calls_voicemail_detection_leaves_the_agents_message() -> None:
    from sdr_agent.engines.base import ToolCall
    from sdr_agent.engines.fakes import FakeReply

    config = agent_config(built_in_tools={"voicemail_detection": {"params": {}}})
    llm = FakeLLM([FakeReply(tool_calls=(ToolCall("v1", "voicemail_detection", {"reason": "machine"}),))])
    dialogue = make_dialogue(llm, config=config)
    turn = await say(dialogue, "Uh, hold on, let me see.")
    assert turn.ends_call and "this is Alex from Acme" in turn.text
