"""Turn state handed to the LLM: structured hints (for the offline grounded responder, which cannot read a
prompt) and a few prompt notes (for generative models)."""

from __future__ import annotations

from typing import Any

from sdr_agent.dialogue.facts import CallFacts
from sdr_agent.dialogue.phases import CallPhase
from sdr_agent.dialogue.playbook import Playbook
from sdr_agent.dialogue.turn_analysis import CallerTurn


def build_hints(
    turn: CallerTurn,
    *,
    phase: CallPhase,
    facts: CallFacts,
    playbook: Playbook,
    next_question: str | None,
    meeting_proposed: bool,
    can_book: bool,
    agent_name: str,
) -> dict[str, Any]:
    slot = turn.slot
    return {
        "intent": turn.intent.value,
        "polarity": turn.polarity,
        "phase": phase.value,
        "user_text": turn.text,
        "first_turn": len(facts.intents) == 1,
        "caller_name": facts.caller_name,
        "caller_email": facts.caller_email,
        "agent_name": agent_name,
        "objection": turn.objection,
        "objection_count": facts.objection_count(turn.objection) if turn.objection else 0,
        "wants_meeting": turn.wants_meeting,
        "slot": {
            "text": slot.text,
            "complete": slot.complete,
            "timezone": slot.timezone,
            "has_day": slot.day_text is not None,
        }
        if slot
        else None,
        "meeting_proposed": meeting_proposed,
        "meeting_booked": bool(facts.meetings),
        "can_book": can_book,
        "next_question": next_question,
        "playbook": {
            "meeting_pitch": playbook.meeting_pitch,
            "follow_up": playbook.follow_up,
            "goodbye": playbook.goodbye,
            "ask_time": playbook.ask_time,
        },
    }


def prompt_notes(phase: CallPhase, next_question: str | None, facts: CallFacts) -> list[str]:
    notes: list[str] = []
    if next_question and phase in (CallPhase.CALL_START, CallPhase.DISCOVERY):
        notes.append(f"If it fits, ask this qualifying question next: {next_question}")
    if facts.caller_name:
        notes.append(f"The caller's name is {facts.caller_name}.")
    if facts.meetings:
        notes.append("A meeting is already booked on this call; do not offer another.")
    return notes
