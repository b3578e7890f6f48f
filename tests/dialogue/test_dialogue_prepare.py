"""Speculative preparation (the voice layer calls ``prepare`` at the caller's first pause): the knowledge
query starts early and is reused when the turn ends with those words; nothing else happens."""

from __future__ import annotations

from dialogue_support import KeywordRetriever, MeetingRecorder, make_dialogue, say

from sdr_agent.engines.local.grounded import GroundedResponder
from sdr_agent.voice.ports import PreparesReplies


async def test_a_prepared_question_is_looked_up_once_and_answered_from_it() -> None:
    retriever = KeywordRetriever()
    dialogue = make_dialogue(GroundedResponder(), retriever=retriever)
    assert isinstance(dialogue, PreparesReplies)
    await say(dialogue, "Hello?")
    before = len(retriever.calls)
    dialogue.prepare("How much  does it cost?")
    turn = await say(dialogue, "How much does it cost?")
    asked = [call[0] for call in retriever.calls[before:]]
    assert asked.count("How much does it cost?") == 1  # the speculative query was the one used
    assert "$" in turn.text or "dollar" in turn.text.lower()


async def test_preparing_words_the_caller_then_continues_changes_nothing() -> None:
    meetings = MeetingRecorder()
    retriever = KeywordRetriever()
    dialogue = make_dialogue(GroundedResponder(), retriever=retriever, meetings=meetings)
    await say(dialogue, "Hello?")
    history, snapshot = dialogue.history, dialogue.state_snapshot()
    dialogue.prepare("Yes, book me for Tuesday at 3pm, my email is dana@example.com.")
    dialogue.prepare("Can we book a meeting.")
    assert dialogue.history == history and dialogue.state_snapshot() == snapshot
    assert meetings.booked == []  # no tool ran
    # The turn that really ended is read from its own words, not from a stale speculation.
    turn = await say(dialogue, "Who else uses it?")
    assert turn.text and dialogue.history[-2].text == "Who else uses it?"
    assert meetings.booked == []
