from __future__ import annotations

import json

from dialogue_support import MeetingRecorder, agent_config, make_dialogue, say

from sdr_agent.engines.base import ToolCall
from sdr_agent.engines.fakes import FakeLLM, FakeReply
from sdr_agent.engines.local.grounded import GroundedResponder

CALL_KEYS = {"request_id", "tool_name", "params_as_json", "tool_has_been_called", "type"}
RESULT_KEYS = {"request_id", "tool_name", "result_value", "is_error", "tool_has_been_called"}
TRANSFER = {
    "transfer_to_number": {
        "type": "system",
        "name": "transfer_to_number",
        "params": {
            "system_tool_type": "transfer_to_number",
            "transfers": [
                {
                    "transfer_destination": {"type": "phone", "phone_number": "+15550009999"},
                    "condition": "asked",
                }
            ],
        },
    }
}


def book(call_id: str, **arguments: object) -> FakeReply:
    return FakeReply(tool_calls=(ToolCall(call_id, "book_meeting", dict(arguments)),))


async def test_bad_arguments_are_never_executed_and_the_model_is_retried_once() -> None:
    meetings = MeetingRecorder()
    llm = FakeLLM(
        [
            FakeReply(
                text="Let me book that.",
                tool_calls=(ToolCall("c1", "book_meeting", {"timezone": "Eastern"}),),
            ),
            book("c2", when="Tuesday at 3 pm", timezone="Eastern"),
        ]
    )
    dialogue = make_dialogue(llm, meetings=meetings)
    turn = await say(dialogue, "Can you book a meeting for Tuesday at 3 pm?")
    rejected, proposed = turn.activities
    assert set(rejected.tool_call) == CALL_KEYS and set(rejected.tool_result or {}) == RESULT_KEYS
    assert rejected.tool_call["tool_has_been_called"] is False
    assert rejected.tool_result is not None and rejected.tool_result["is_error"] is True
    assert "'when' is a required property" in rejected.tool_result["result_value"]
    retry = llm.requests[1]
    assert retry.messages[-1].role == "tool" and "'when' is a required property" in retry.messages[-1].content
    assert retry.messages[-2].tool_calls[0].id == "c1"
    assert proposed.tool_call["request_id"] == "c2" and proposed.tool_result is None
    assert "Just to confirm, Tuesday at 3 pm, shall I book it?" in turn.text
    assert meetings.booked == []


async def test_a_second_bad_call_is_rejected_without_a_third_try() -> None:
    meetings = MeetingRecorder()
    llm = FakeLLM([book("c1"), book("c2", when=42), "unused"])
    dialogue = make_dialogue(llm, meetings=meetings)
    turn = await say(dialogue, "Book me in for Friday at 10.")
    assert len(llm.requests) == 2
    assert [a.tool_result["is_error"] for a in turn.activities if a.tool_result] == [True, True]
    assert "42 is not of type 'string'" in (turn.activities[1].tool_result or {})["result_value"]
    assert meetings.booked == []
    assert (await say(dialogue, "Yes.")).activities == []  # nothing is waiting for a yes
    assert meetings.booked == []


async def test_unknown_tools_and_unparseable_arguments_are_rejected() -> None:
    llm = FakeLLM(
        [
            FakeReply(tool_calls=(ToolCall("c1", "delete_everything", {}),)),
            FakeReply(tool_calls=(ToolCall("c2", "book_meeting", {}, raw_arguments='{"when": "Tue'),)),
        ]
    )
    turn = await say(make_dialogue(llm), "Please set up a call.")
    errors = [(a.tool_result or {})["result_value"] for a in turn.activities]
    assert "no tool named 'delete_everything'" in errors[0]
    assert "not valid JSON" in errors[1]


async def test_a_slot_that_is_not_a_specific_time_is_sent_back_to_the_model() -> None:
    llm = FakeLLM([book("c1", when="sometime next week"), "What day and time would work best for you?"])
    turn = await say(make_dialogue(llm), "Let's set up a meeting next week.")
    assert "does not name a specific day and time" in (turn.activities[0].tool_result or {})["result_value"]
    assert turn.text.endswith("What day and time would work best for you?")


async def test_confirm_yes_books_the_meeting() -> None:
    meetings = MeetingRecorder()
    dialogue = make_dialogue(
        GroundedResponder(),
        meetings=meetings,
        variables={"customer_name": "Dana", "timezone": "America/New_York"},
    )
    proposal = await say(dialogue, "Can you book a meeting for Tuesday at 3 pm? My email is dana@globex.com")
    assert "Just to confirm, Tuesday at 3 pm, shall I book it?" in proposal.text
    assert meetings.booked == []
    done = await say(dialogue, "Yes, that works.")
    assert len(meetings.booked) == 1
    meeting = meetings.booked[0]
    assert meeting.starts_at.isoformat() == "2026-03-10T15:00:00-04:00"
    assert meeting.timezone == "America/New_York"
    assert meeting.email == "dana@globex.com"
    activity = done.activities[0]
    assert activity.tool_call["tool_has_been_called"] is True
    assert activity.tool_call["request_id"] == proposal.activities[0].tool_call["request_id"]
    assert json.loads((activity.tool_result or {})["result_value"])["meeting_id"] == "mtg_1"
    assert "You're all set for Tuesday, March 10 at 3 pm." in done.text
    assert dialogue.state_snapshot()["meetings_booked"][0]["timezone"] == "America/New_York"


async def test_confirm_no_cancels_without_booking() -> None:
    meetings = MeetingRecorder()
    dialogue = make_dialogue(GroundedResponder(), meetings=meetings)
    await say(dialogue, "Could we do a demo Wednesday at 2pm?")
    cancelled = await say(dialogue, "No, actually not that day.")
    assert meetings.booked == []
    assert (cancelled.activities[0].tool_result or {})["result_value"] == "cancelled by the caller"
    assert cancelled.activities[0].tool_call["tool_has_been_called"] is False
    assert "won't book that" in cancelled.text
    assert (await say(dialogue, "Yes.")).activities == []


async def test_a_confirmation_the_caller_did_not_hear_is_dropped() -> None:
    meetings = MeetingRecorder()
    dialogue = make_dialogue(GroundedResponder(), meetings=meetings)
    await say(dialogue, "Book a call for Monday at 11 am.", heard="Great. Just to", interrupted=True)
    await say(dialogue, "Yes.")
    assert meetings.booked == []


async def test_booking_failure_is_reported_not_raised() -> None:
    meetings = MeetingRecorder(fail=True)
    dialogue = make_dialogue(GroundedResponder(), meetings=meetings)
    await say(dialogue, "Book a call for Monday at 11 am.")
    turn = await say(dialogue, "Yes please.")
    assert (turn.activities[0].tool_result or {})["is_error"] is True
    assert "couldn't book that" in turn.text


async def test_end_call_from_the_model_says_goodbye_and_hangs_up() -> None:
    llm = FakeLLM([FakeReply(tool_calls=(ToolCall("e1", "end_call", {"reason": "done"}),))])
    dialogue = make_dialogue(llm)
    turn = await say(dialogue, "We're all set, nothing else.")
    assert turn.ends_call and "Goodbye" in turn.text
    assert dialogue.phase == "COMPLETION"


async def test_transfer_asks_first_then_hands_off() -> None:
    config = agent_config(built_in_tools=TRANSFER)
    llm = FakeLLM([FakeReply(tool_calls=(ToolCall("t1", "transfer_to_number", {"reason": "pricing"}),))])
    dialogue = make_dialogue(llm, config=config)
    asked = await say(dialogue, "Can someone from billing help me?")
    assert asked.transfer is None and "transfer you" in asked.text
    done = await say(dialogue, "Yes please.")
    assert done.transfer is not None and done.transfer.phone_number == "+15550009999"
    assert "connect you with a colleague" in done.text


async def test_skip_turn_says_nothing_and_keypad_tones_become_digits() -> None:
    built_in = {
        "skip_turn": {"type": "system", "name": "skip_turn", "params": {"system_tool_type": "skip_turn"}},
        "play_keypad_touch_tone": {
            "type": "system",
            "name": "play_keypad_touch_tone",
            "params": {"system_tool_type": "play_keypad_touch_tone"},
        },
    }
    llm = FakeLLM(
        [
            FakeReply(tool_calls=(ToolCall("s1", "skip_turn", {}),)),
            FakeReply(tool_calls=(ToolCall("k1", "play_keypad_touch_tone", {"dtmf_tones": "12#"}),)),
            FakeReply(tool_calls=(ToolCall("k2", "play_keypad_touch_tone", {"dtmf_tones": "call me"}),)),
            "Sorry.",
        ]
    )
    dialogue = make_dialogue(llm, config=agent_config(built_in_tools=built_in))
    skipped = await say(dialogue, "Hold on a second.")
    assert skipped.text == "" and skipped.activities[0].tool_call["tool_name"] == "skip_turn"
    assert (await say(dialogue, "Press one two and pound.")).digits == "12#"
    bad = await say(dialogue, "Press the keys.")
    assert bad.digits is None and (bad.activities[0].tool_result or {})["is_error"] is True


async def test_voicemail_greeting_on_the_first_turn_leaves_the_message_and_hangs_up() -> None:
    built_in = {
        "voicemail_detection": {
            "type": "system",
            "name": "voicemail_detection",
            "params": {
                "system_tool_type": "voicemail_detection",
                "voicemail_message": "Hi {{customer_name}}, this is Alex from Acme. I'll try you again soon.",
            },
        }
    }
    dialogue = make_dialogue(GroundedResponder(), config=agent_config(built_in_tools=built_in))
    turn = await say(dialogue, "Hi, you've reached Dana. Please leave a message after the tone.")
    assert turn.text == "Hi Dana, this is Alex from Acme. I'll try you again soon."
    assert turn.ends_call and dialogue.state_snapshot()["voicemail"] is True


async def test_voicemail_words_later_in_a_call_are_just_words() -> None:
    built_in = {
        "voicemail_detection": {
            "type": "system",
            "name": "voicemail_detection",
            "params": {"system_tool_type": "voicemail_detection"},
        }
    }
    dialogue = make_dialogue(GroundedResponder(), config=agent_config(built_in_tools=built_in))
    await say(dialogue, "Hello?")
    turn = await say(dialogue, "Just leave a message with my assistant.")
    assert not turn.ends_call
