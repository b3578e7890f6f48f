"""Small pieces the reply composer is built from: the time and "what is it regarding" words it listens for,
its line variants for asking a time, and helpers that keep what it says speakable."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sdr_agent.dialogue.turn_analysis import CallerTurn
from sdr_agent.engines.base import ContextPassage, ToolCall

ASK_TIME = (
    "What day and time would work best for you?",
    "Which day and time suits you best?",
    "When would be a good time for you?",
)
ASK_HOUR = ("What time works best for you that day?", "And what time that day would suit you?")
TIME_WORDS = re.compile(
    r"\b(?:mornings?|afternoons?|evenings?|tonight|tomorrow|today|week|(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
    r"|\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.|o'?clock)|(?:after|before|around|at) \d{1,2}|noon|lunch"
    r"|later|hour|spring|summer|fall|autumn|winter|next (?:month|year|quarter)"
    r"|(?:january|february|march|april|may"
    r"|june|july|august|september|october|november|december)|(?:end|beginning|start) of)\b",
    re.IGNORECASE,
)
REGARDING = re.compile(r"\b(?:regarding|about|who(?:'s| is)|what company|why)\b", re.IGNORECASE)
AS_MENTIONED = ("As I mentioned, ", "Like I said, ", "Just to repeat, ")


def new_call(name: str, arguments: dict[str, Any]) -> ToolCall:
    return ToolCall(f"call_{uuid.uuid4().hex[:16]}", name, arguments)


def offers_slot(turn: CallerTurn) -> bool:
    """ "Friday at 3 pm?" or "how about Tuesday at 10?" — the question is the time itself."""
    if turn.slot is None or not turn.slot.complete:
        return False
    last = re.split(r"(?<=[.!?])\s+", turn.text.strip())[-1]
    return turn.wants_meeting or (
        turn.slot.text in last and len(last.split()) <= len(turn.slot.text.split()) + 3
    )


def mid_sentence(sentence: str, passages: Sequence[ContextPassage]) -> str:
    """The sentence continuing another ("As I mentioned, practices usually ..."): its first word lower-cased
    unless it is a name (capitalised inside the word, or capitalised mid-sentence in the knowledge base)."""
    first, _, rest = sentence.partition(" ")
    if not first or first[1:] != first[1:].lower() or first.isupper():
        return sentence
    if any(re.search(rf"[a-z,;]\s+{re.escape(first)}\b", p.text) for p in passages):
        return sentence
    return f"{first[0].lower()}{first[1:]} {rest}".strip()


def safe_name(value: str | None) -> str:
    return " ".join(re.sub(r"[^A-Za-z' -]", "", value or "").split()[:2])
