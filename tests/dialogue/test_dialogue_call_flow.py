"""A whole call through the offline default: the demo's pricing question and a booked meeting."""

from __future__ import annotations

from dialogue_support import MeetingRecorder, make_dialogue, say

from sdr_agent.dialogue.tool_config import load_toolbox
from sdr_agent.engines.local.grounded import GroundedResponder


async def test_sdr_call_answers_pricing_from_the_kb_and_books_a_meeting() -> None:
    meetings = MeetingRecorder()
    dialogue = make_dialogue(
        GroundedResponder(),
        meetings=meetings,
        variables={"customer_name": "Dana", "timezone": "America/New_York"},
    )
    assert dialogue.opening_line() == "Hi Dana, this is Alex from Acme. Do you have a minute?"
    dialogue.record_agent_turn(dialogue.opening_line(), False)
    hello = await say(dialogue, "Yeah, hi, this is Dana.")
    assert "How is your team handling this today?" in hello.text
    await say(dialogue, "We mostly dial from spreadsheets.")
    pricing = await say(dialogue, "How much does it cost?")
    assert "The Starter plan costs 49 dollars per user per month." in pricing.text
    salesforce = await say(dialogue, "Does it work with Salesforce?")
    assert "integrates with Salesforce" in salesforce.text
    assert "short call" in salesforce.text  # qualifying is over: the meeting pitch follows the answer
    agreed = await say(dialogue, "Okay, sounds good.")
    assert "What day and time would work best for you?" in agreed.text
    proposal = await say(dialogue, "Sure, how about Tuesday at 3 pm?")
    assert "Just to confirm, Tuesday at 3 pm, shall I book it?" in proposal.text
    booked = await say(dialogue, "Yes.")
    assert "You're all set for Tuesday, March 10 at 3 pm." in booked.text
    bye = await say(dialogue, "Great, thanks. Bye.")
    assert bye.ends_call

    assert [m.when_text for m in meetings.booked] == ["Tuesday at 3 pm"]
    snapshot = dialogue.state_snapshot()
    assert snapshot["phase"] == "COMPLETION"
    assert snapshot["caller"]["name"] == "Dana"
    assert snapshot["meetings_booked"][0]["starts_at"] == "2026-03-10T15:00:00-04:00"
    questions = {q["text"]: q["answered_from_kb"] for q in snapshot["questions"]}
    assert questions == {"How much does it cost?": True, "Does it work with Salesforce?": True}
    assert snapshot["end_reason"] == "caller said goodbye"


async def test_objections_and_unanswered_questions_are_recorded() -> None:
    dialogue = make_dialogue(GroundedResponder())
    await say(dialogue, "Hello?")
    await say(dialogue, "Honestly, I'm not interested.")
    unknown = await say(dialogue, "Do you support Klingon?")
    assert "follow up" in unknown.text
    second = await say(dialogue, "Like I said, not interested.")
    assert second.ends_call
    snapshot = dialogue.state_snapshot()
    assert [o["kind"] for o in snapshot["objections"]] == ["not_interested", "not_interested"]
    assert snapshot["questions"] == [
        {
            "text": "Do you support Klingon?",
            "answered_from_kb": False,
            "sources": snapshot["questions"][0]["sources"],
        }
    ]


async def test_empty_caller_turn_gets_a_reprompt() -> None:
    dialogue = make_dialogue(GroundedResponder())
    turn = await say(dialogue, "   ")
    assert turn.text == "Sorry, are you still there?"


def test_toolbox_reads_elevenlabs_shapes() -> None:
    config = {
        "agent": {
            "prompt": {
                "tools": [{"type": "client", "name": "show_slide", "description": "d", "parameters": {}}],
                "built_in_tools": {
                    "transfer_to_number": {
                        "type": "system",
                        "name": "transfer_to_number",
                        "params": {"system_tool_type": "transfer_to_number", "transfers": []},
                    },
                    "language_detection": {
                        "type": "system",
                        "name": "language_detection",
                        "params": {"system_tool_type": "language_detection"},
                    },
                },
            }
        }
    }
    resolved = [
        {
            "tool_config": {
                "type": "webhook",
                "name": "lookup",
                "description": "Look up",
                "api_schema": {"url": "https://x.test/a", "method": "GET"},
            }
        }
    ]
    box = load_toolbox(config, resolved, can_book_meetings=True)
    names = {spec.name for spec in box.specs}
    # client tools, unsupported system tools and a transfer with no destination are left out; end_call is
    # always there, book_meeting when meetings can be stored.
    assert names == {"lookup", "end_call", "book_meeting"}
    assert load_toolbox({}, can_book_meetings=False).specs[0].name == "end_call"


async def test_a_long_call_that_has_used_every_fresh_line_still_gets_an_answer_every_turn() -> None:
    # Acknowledgements and "anything else?" lines are said once each; a caller who keeps making statements
    # must never be answered with silence (the voice layer would leave a dead line until the re-prompt).
    dialogue = make_dialogue(GroundedResponder(), outbound=True)
    statements = ["Yes, I have a minute.", "We have about twelve reps.", "Mostly inbound leads.",
                  "We use spreadsheets for now.", "It works okay.", "The team is in Denver.",
                  "We hire two people a year.", "Our manager decides.", "Budget is set in January.",
                  "We looked at other tools.", "Nothing stood out.", "The reps like the phones.",
                  "We moved offices last spring.", "That is about it.",
                  "Our main problem is tracking the leads."]
    replies = [await say(dialogue, text) for text in statements]
    assert not any(reply.ends_call for reply in replies)
    assert all(reply.text.strip() for reply in replies), [r.text for r in replies]
