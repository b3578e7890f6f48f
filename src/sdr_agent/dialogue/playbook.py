"""The SDR playbook's fixed lines and qualifying questions.

An agent may override them in ``conversation_config.agent.sdr_playbook`` (keys as in ``Playbook``); the
lines contain no facts, prices or dates, so the offline responder can say them without inventing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_QUALIFYING_QUESTIONS = (
    "How is your team handling this today?",
    "What would you most like to improve about it?",
    "Who else would be involved in a decision like this?",
)


@dataclass(frozen=True, slots=True)
class Playbook:
    qualifying_questions: tuple[str, ...] = DEFAULT_QUALIFYING_QUESTIONS
    meeting_pitch: str = "Would you be open to a short call to go over this in more detail?"
    goodbye: str = "Thanks so much for your time. Have a great day. Goodbye!"
    reprompt: str = "Sorry, are you still there?"
    fallback: str = "Sorry, I'm having a little trouble on my end. Could you say that again?"
    follow_up: str = (
        "That's a good question. I don't have that detail in front of me, so I'll follow up with "
        "the answer after our call."
    )
    handoff: str = "Of course. Let me connect you with a colleague now, one moment please."
    offer_transfer: str = (
        "I'm sorry this has been frustrating. Would you like me to connect you with a colleague?"
    )
    offer_callback: str = (
        "I can't transfer you right now, but I can have a colleague call you back. Would that work?"
    )
    callback_confirmed: str = "Great, I'll have a colleague call you back as soon as possible."
    booking_failed: str = (
        "Sorry, I couldn't book that just now. I'll have someone follow up with you to confirm a time."
    )
    tool_failed: str = "Sorry, I couldn't get that done just now. I'll make sure someone follows up with you."
    cancelled: str = "No problem, I won't do that."
    cancelled_booking: str = "No problem, I won't book that. What day and time would work better for you?"
    ask_time: str = "What day and time would work best for you?"


def load_playbook(agent_config: Mapping[str, Any]) -> Playbook:
    overrides = (agent_config.get("agent") or {}).get("sdr_playbook")
    playbook = Playbook()
    if not isinstance(overrides, Mapping):
        return playbook
    changes: dict[str, Any] = {}
    for item in fields(Playbook):
        value = overrides.get(item.name)
        if item.name == "qualifying_questions" and isinstance(value, list):
            questions = tuple(str(q).strip() for q in value if str(q).strip())
            changes[item.name] = questions
        elif isinstance(value, str) and value.strip():
            changes[item.name] = value.strip()
    return replace(playbook, **changes)
