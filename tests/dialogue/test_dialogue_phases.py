from __future__ import annotations

from dialogue_support import make_dialogue, say

from sdr_agent.dialogue.intents import Intent
from sdr_agent.dialogue.phases import CallPhase, PhaseTracker
from sdr_agent.engines.local.grounded import GroundedResponder


def test_tracker_walks_start_discovery_active_completion() -> None:
    tracker = PhaseTracker()
    assert tracker.phase is CallPhase.CALL_START
    assert tracker.on_caller_turn(Intent.HELLO) is CallPhase.CALL_START
    tracker.after_turn()
    assert tracker.phase is CallPhase.DISCOVERY
    assert tracker.on_caller_turn(Intent.OTHER) is CallPhase.DISCOVERY
    assert tracker.on_caller_turn(Intent.OTHER) is CallPhase.DISCOVERY
    assert tracker.on_caller_turn(Intent.QUESTION) is CallPhase.ACTIVE  # after two discovery exchanges
    assert tracker.on_caller_turn(Intent.GOODBYE) is CallPhase.COMPLETION
    assert tracker.on_caller_turn(Intent.HELLO) is CallPhase.COMPLETION  # never goes back


def test_an_action_request_skips_ahead_to_active() -> None:
    tracker = PhaseTracker()
    tracker.on_caller_turn(Intent.HELLO)
    tracker.after_turn()
    assert tracker.on_caller_turn(Intent.ACTION) is CallPhase.ACTIVE


def test_first_turn_that_is_not_a_greeting_starts_discovery() -> None:
    tracker = PhaseTracker()
    assert tracker.on_caller_turn(Intent.QUESTION) is CallPhase.DISCOVERY


async def test_phase_is_annotated_per_turn_through_a_call() -> None:
    dialogue = make_dialogue(GroundedResponder())
    phases = []
    for text in [
        "Hello?",
        "We use spreadsheets today.",
        "Mostly the sales team.",
        "How much does it cost?",
        "Okay, bye.",
    ]:
        events = dialogue.respond(text)
        phases.append(dialogue.annotate_user_turn().phase)  # ready before the answer streams
        _ = [event async for event in events]
        dialogue.record_agent_turn("", False)
    assert phases == ["CALL_START", "DISCOVERY", "DISCOVERY", "ACTIVE", "COMPLETION"]
    assert dialogue.phase == "COMPLETION"


async def test_goodbye_closes_the_call_with_a_goodbye_line() -> None:
    dialogue = make_dialogue(GroundedResponder())
    turn = await say(dialogue, "Alright, talk to you later.")
    assert turn.ends_call
    assert "Goodbye" in turn.text
    assert turn.activities[0].tool_call["tool_name"] == "end_call"
    assert turn.activities[0].tool_result is not None
    after = await say(dialogue, "hello?")
    assert after.events == []  # nothing more once the call is ending
