from __future__ import annotations

import pytest
from dialogue_support import agent_config, make_dialogue, say
from test_dialogue_tools import TRANSFER

from sdr_agent.dialogue import conversation
from sdr_agent.dialogue.escalation import EscalationMonitor, score_sentiment
from sdr_agent.engines.local.grounded import GroundedResponder


def test_monitor_fires_once_after_two_consecutive_negative_turns() -> None:
    monitor = EscalationMonitor()
    assert [monitor.observe(s) for s in (-0.5, 0.2, -0.4, -0.9, -0.9)] == [False, False, False, True, False]


def test_sentiment_comes_from_the_analysis_module_and_is_clamped() -> None:
    assert score_sentiment("This is terrible, I hate it.") < 0
    assert score_sentiment("") == 0.0


async def test_explicit_request_for_a_human_transfers_when_a_destination_exists() -> None:
    dialogue = make_dialogue(GroundedResponder(), config=agent_config(built_in_tools=TRANSFER))
    turn = await say(dialogue, "Can I talk to a real person please?")
    assert turn.transfer is not None and turn.transfer.phone_number == "+15550009999"
    snapshot = dialogue.state_snapshot()
    assert snapshot["escalation"]["reason"] == "caller asked for a human"
    assert snapshot["escalation"]["transferred_to"] == "+15550009999"


async def test_without_a_transfer_tool_a_call_back_is_offered() -> None:
    dialogue = make_dialogue(GroundedResponder())
    offer = await say(dialogue, "I want to speak to your manager.")
    assert offer.transfer is None and "call you back" in offer.text
    yes = await say(dialogue, "Yes, please.")
    assert "call you back as soon as possible" in yes.text
    assert dialogue.state_snapshot()["escalation"]["callback_requested"] is True


async def test_two_negative_turns_offer_a_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    scores = {"This is useless.": -0.7, "Honestly this is a waste of my time.": -0.6}
    monkeypatch.setattr(conversation, "score_sentiment", lambda text: scores.get(text, 0.0))
    dialogue = make_dialogue(GroundedResponder(), config=agent_config(built_in_tools=TRANSFER))
    first = await say(dialogue, "This is useless.")
    assert dialogue.annotate_user_turn().sentiment == -0.7
    assert "colleague" not in first.text
    second = await say(dialogue, "Honestly this is a waste of my time.")
    assert second.transfer is None and "connect you with a colleague?" in second.text
    done = await say(dialogue, "Yes.")
    assert done.transfer is not None


async def test_a_caller_describing_their_own_pain_is_not_handed_to_a_human() -> None:
    # Discovery is meant to surface this; two such answers in a row are not frustration with the call.
    dialogue = make_dialogue(GroundedResponder(), config=agent_config(built_in_tools=TRANSFER))
    await say(dialogue, "Yes, I have a minute.")
    first = await say(dialogue, "Our main problem is keeping track of all the leads.")
    second = await say(dialogue, "We tried a similar tool last year, but it was too slow for us.")
    assert first.transfer is None and second.transfer is None
    assert "colleague" not in first.text + second.text
    assert dialogue.state_snapshot()["escalation"] is None
    # ... while frustration with the call still is, even in the first person.
    monitor = EscalationMonitor()
    assert not monitor.observe(-0.6, "I'm annoyed, you keep repeating yourself.")
    assert monitor.observe(-0.6, "Honestly this is a waste of my time.")
