"""The dialogue's plan for a turn, written for a generative model's system prompt: who the agent is, what
this reply must do and the sentences the dialogue would say (to phrase, not to invent around)."""

from __future__ import annotations

from sdr_agent.dialogue.facts import CallFacts
from sdr_agent.dialogue.persona import AgentPersona
from sdr_agent.engines.base import ReplyAct, TurnBrief

_ACT_NOTES = {
    ReplyAct.ANSWER: "Answer the caller's question from the knowledge base context, then move the call "
    "forward.",
    ReplyAct.FOLLOW_UP: "The knowledge base does not answer this: say you will follow up; do not guess.",
    ReplyAct.INTRODUCE: "The caller asked who you are or why you are calling: say who you are and why, "
    "briefly.",
    ReplyAct.GATEKEEPER: "You reached a gatekeeper: ask for the right person and a good time to call back.",
    ReplyAct.OBJECTION: "Answer the objection in one or two short sentences and offer a next step.",
    ReplyAct.ASK_TIME: "The caller is open to a meeting: ask for a day and time.",
    ReplyAct.BOOK: "The caller gave a day and time for the meeting: call book_meeting with their words.",
    ReplyAct.CLOSE: "Close the call politely and call end_call.",
}


def prompt_notes(persona: AgentPersona, brief: TurnBrief, facts: CallFacts) -> list[str]:
    notes: list[str] = []
    who = persona.introduction()
    if who:
        notes.append(f"On this call: {who} {persona.reason()}".strip())
    notes.append(
        "If asked whether you are a robot or an AI, say honestly that you are an AI assistant. "
        "Never claim to be "
        "human. Never offer a discount the knowledge base does not mention."
    )
    if act_note := _ACT_NOTES.get(brief.act):
        notes.append(act_note)
    notes.extend(brief.guidance)
    if brief.draft:
        notes.append(
            "A reply that would work (rephrase it if you like, keep any facts exact): "
            + " ".join(brief.draft)
        )
    if facts.caller_name:
        notes.append(f"The caller's name is {facts.caller_name}.")
    if facts.meetings:
        notes.append("A meeting is already booked on this call; do not offer another.")
    return notes
