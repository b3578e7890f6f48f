"""Rule-based post-call analysis, and the LLM analysis with its validation and fallback."""

from __future__ import annotations

import json
from typing import Any

from tests.postcall.helpers import PLATFORM_SETTINGS, SALES_TURNS

from sdr_agent.analysis.analyzer import AnalysisInput, analysis_spec, coerce_value, rules_analysis
from sdr_agent.analysis.llm_analyzer import llm_analysis
from sdr_agent.dialogue.facts import CallFacts as DialogueFacts
from sdr_agent.engines.fakes import FakeLLM
from sdr_agent.storage.repos.conversations import TurnRecord


def _turns(pairs: list[tuple[str, str]]) -> list[TurnRecord]:
    return [TurnRecord(role=r, message=m, time_in_call_secs=i * 5.0) for i, (r, m) in enumerate(pairs)]


def _input(pairs: list[tuple[str, str]], **kwargs: Any) -> AnalysisInput:
    criteria, fields = analysis_spec(PLATFORM_SETTINGS)
    return AnalysisInput(
        turns=_turns(pairs),
        criteria=criteria,
        data_collection=fields,
        duration_secs=95,
        caller_name="Dana",
        **kwargs,
    )


def test_a_booked_call_is_a_success_with_fields_filled() -> None:
    analysis = rules_analysis(_input(SALES_TURNS, dialogue_state={"meeting_booked": True}))
    assert analysis["call_successful"] == "success"
    assert analysis["call_summary_title"] == "Meeting booked"
    summary = analysis["transcript_summary"]
    assert "Dana" in summary and "meeting was booked" in summary and "price" in summary
    results = analysis["evaluation_criteria_results"]
    assert results["meeting"]["result"] == "success"
    assert results["budget_known"]["result"] == "success"
    assert results["rapport"]["result"] == "unknown"  # no rule understands this goal
    data = {k: v["value"] for k, v in analysis["data_collection_results"].items()}
    assert data == {
        "budget": "$20k",
        "budget_amount": 20000.0,
        "timeline": "next quarter",
        "meeting_booked": True,
        "email": "dana@example.com",
        "favourite_colour": None,
    }
    assert all(v["data_collection_id"] == k for k, v in analysis["data_collection_results"].items())


def test_a_refusal_is_a_failure() -> None:
    pairs = [("agent", "Hi, this is Alex from Acme."), ("user", "Not interested, stop calling me.")]
    analysis = rules_analysis(_input(pairs))
    assert analysis["call_successful"] == "failure"
    assert analysis["call_summary_title"] == "Not interested"
    assert analysis["evaluation_criteria_results"]["meeting"]["result"] == "failure"
    assert analysis["data_collection_results"]["meeting_booked"]["value"] is False


def test_silence_and_an_open_call() -> None:
    silent = rules_analysis(_input([("agent", "Hello? Are you there?")]))
    assert silent["call_successful"] == "failure" and silent["call_summary_title"] == "No conversation"
    open_call = rules_analysis(
        AnalysisInput(
            turns=_turns([("agent", "Hi!"), ("user", "Call me back next week.")]),
            data_collection=analysis_spec({})[1],
        )
    )
    assert open_call["call_successful"] == "unknown"
    assert open_call["call_summary_title"] == "Call back requested"
    # an agent without data collection gets the SDR defaults
    assert set(open_call["data_collection_results"]) == {"meeting_booked", "budget", "timeline"}
    assert open_call["data_collection_results"]["timeline"]["value"] == "next week"


def test_dialogue_state_feeds_the_analysis() -> None:
    state = {
        "objections": [{"type": "competitor"}],
        "questions": ["Does it integrate with Salesforce?"],
        "collected": {"budget": "50k", "favourite_colour": "blue"},
        "human_requested": True,
    }
    analysis = rules_analysis(_input([("agent", "Hi"), ("user", "Hello there")], dialogue_state=state))
    data = analysis["data_collection_results"]
    assert data["budget"]["value"] == "50k" and data["budget_amount"]["value"] == 50000.0
    assert data["favourite_colour"]["value"] == "blue"
    assert "competitor" in analysis["transcript_summary"] and "Salesforce" in analysis["transcript_summary"]
    assert analysis["call_summary_title"] == "Asked for a person"


def test_spoken_email_and_failed_booking_tool() -> None:
    turns = _turns([("user", "It's dana dot smith at example dot com"), ("agent", "Let me book that.")])
    turns[1].tool_calls = [{"request_id": "r1", "tool_name": "book_meeting"}]
    turns[1].tool_results = [{"request_id": "r1", "tool_name": "book_meeting", "is_error": True}]
    criteria, fields = analysis_spec(PLATFORM_SETTINGS)
    analysis = rules_analysis(AnalysisInput(turns=turns, criteria=criteria, data_collection=fields))
    assert analysis["data_collection_results"]["meeting_booked"]["value"] is False
    assert analysis["data_collection_results"]["email"]["value"] == "dana.smith@example.com"


def test_values_are_coerced_to_the_declared_type() -> None:
    assert coerce_value("yes", "boolean") is True and coerce_value("maybe", "boolean") is None
    assert coerce_value("$1,500", "number") == 1500.0 and coerce_value("2.4 million", "number") == 2_400_000.0
    assert coerce_value("about 12.6", "integer") == 13 and coerce_value("none", "integer") is None
    assert coerce_value(42, "string") == "42" and coerce_value(None, "string") is None


async def test_llm_answer_is_validated_and_merged() -> None:
    inp = _input(SALES_TURNS)
    fallback = rules_analysis(inp)
    answer = {
        "call_successful": "success",
        "transcript_summary": "Dana agreed to a Tuesday demo.",
        "evaluation_criteria_results": {
            "rapport": {"result": "success", "rationale": "She laughed."},
            "meeting": {"result": "maybe", "rationale": "invalid result, ignored"},
            "invented": {"result": "success", "rationale": "not a configured criterion"},
        },
        "data_collection_results": {
            "favourite_colour": {"value": "green", "rationale": "She said so."},
            "budget_amount": {"value": "lots", "rationale": "not a number, ignored"},
            "email": {"value": None, "rationale": "model missed it"},
        },
    }
    llm = FakeLLM(replies=["Here you go: " + json.dumps(answer) + " Done."])
    merged = await llm_analysis(llm, inp, fallback, timeout_s=5)
    assert merged["analysis_method"] == "llm"
    assert merged["transcript_summary"] == "Dana agreed to a Tuesday demo."
    criteria = merged["evaluation_criteria_results"]
    assert (
        criteria["rapport"]["result"] == "success"
        and criteria["meeting"] == fallback["evaluation_criteria_results"]["meeting"]
    )
    assert "invented" not in criteria
    data = merged["data_collection_results"]
    assert data["favourite_colour"]["value"] == "green"
    assert data["budget_amount"]["value"] == 20000.0  # rules kept: the model's value was not a number
    assert data["email"]["value"] == "dana@example.com"  # rules kept: the model found nothing
    prompt = llm.requests[0].messages[-1].content
    assert "budget_amount" in prompt and "Make the prospect laugh." in prompt


async def test_llm_garbage_or_silence_raises_for_the_fallback() -> None:
    inp = _input(SALES_TURNS)
    fallback = rules_analysis(inp)
    for reply in ("I think the call went well.", "{not json}", "[1, 2]"):
        try:
            await llm_analysis(FakeLLM(replies=[reply]), inp, fallback, timeout_s=5)
        except ValueError:
            continue
        raise AssertionError(f"{reply!r} was accepted")
    slow = FakeLLM(replies=["{}"], first_token_delay_s=2.0)
    try:
        await llm_analysis(slow, inp, fallback, timeout_s=0.05)
    except ValueError as exc:
        assert "no answer" in str(exc)
    else:
        raise AssertionError("a late answer was accepted")


def test_the_dialogue_snapshot_is_understood() -> None:
    """Built with the dialogue's own CallFacts, so a renamed key breaks this test, not production."""
    facts = DialogueFacts(caller_name="Dana", caller_email="dana@acme.io")
    facts.add_objection("bad_timing", "I'm swamped this week")
    facts.add_question("Does it work with HubSpot?")
    facts.meetings.append(
        {
            "starts_at": "2030-01-08T15:00:00+00:00",
            "timezone": "UTC",
            "when_text": "Tuesday at 3 pm",
            "meeting_id": "mtg_1",
        }
    )
    pairs = [
        ("agent", "Hi!"),
        ("user", "I'm swamped this week. Does it work with HubSpot?"),
        ("agent", "It does. Tuesday at 3?"),
        ("user", "Fine."),
    ]
    criteria, fields = analysis_spec(PLATFORM_SETTINGS)
    analysis = rules_analysis(
        AnalysisInput(
            turns=_turns(pairs),
            dialogue_state=facts.snapshot("close"),
            criteria=criteria,
            data_collection=fields,
        )
    )
    assert analysis["call_successful"] == "success"
    summary = analysis["transcript_summary"]
    assert "Dana" in summary and "bad timing" in summary and "Tuesday at 3 pm" in summary
    assert "HubSpot" in summary
    assert analysis["data_collection_results"]["email"]["value"] == "dana@acme.io"

    facts = DialogueFacts(voicemail=True)
    voicemail = rules_analysis(
        AnalysisInput(
            turns=_turns([("user", "Leave a message after the tone")]),
            dialogue_state=facts.snapshot("call_start"),
        )
    )
    assert voicemail["call_successful"] == "failure" and voicemail["call_summary_title"] == "Voicemail"

    facts = DialogueFacts()
    facts.escalate("caller sentiment stayed negative")
    escalated = rules_analysis(
        AnalysisInput(turns=_turns([("user", "This is awful")]), dialogue_state=facts.snapshot("discovery"))
    )
    assert escalated["call_summary_title"] == "Escalated"
    assert "caller sentiment stayed negative" in escalated["transcript_summary"]


def test_dotted_abbreviations_do_not_split_a_question_in_the_summary() -> None:
    pairs = [
        ("agent", "Hi, this is Alex from Acme."),
        ("user", "Can we book a meeting on Tuesday at 3 p.m? Uptime is 99.9 percent, right?"),
        ("agent", "Sure."),
    ]
    summary = rules_analysis(_input(pairs))["transcript_summary"]
    assert "Can we book a meeting on Tuesday at 3 p.m?" in summary
    assert "; m?" not in summary and "99.9 percent, right?" in summary
