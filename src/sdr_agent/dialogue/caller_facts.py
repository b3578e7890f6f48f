"""Facts the dialogue notices in what the caller says: name, email, objections, a request for a human,
a voicemail greeting, a wish to meet. Pure functions over one utterance; the phrase lists live in
``dialogue.lexicon`` (shared with post-call analysis)."""

from __future__ import annotations

import re

from sdr_agent.dialogue.intents import normalize_utterance
from sdr_agent.dialogue.lexicon import AI_QUESTION, HUMAN_REQUEST, OBJECTIONS, VOICEMAIL

_NAME = re.compile(
    r"\b(?i:my name is|my name's|name is|this is|it's|it is|call me|i am|i'm)\s+"
    r"((?:(?:Dr|Mr|Mrs|Ms|Miss)\.?\s+)?[A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
)
_NOT_NAMES = frozenset(
    {
        "Not",
        "Just",
        "Really",
        "Very",
        "Busy",
        "Fine",
        "Good",
        "Great",
        "Okay",
        "Sorry",
        "Here",
        "Interested",
        "Calling",
        "Looking",
        "The",
        "A",
        "An",
        "In",
        "On",
        "So",
        "Happy",
        "Sure",
        "Still",
        "Actually",
        "Also",
        "Currently",
        "Going",
        "Driving",
        "Afraid",
        "Glad",
        "Well",
        "Done",
        "Free",
        "Available",
        "Thinking",
    }
)
_EMAIL_WRITTEN = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# "jane dot doe at acme dot com"; a domain said in words ("riverside dental dot com") is one label.
_EMAIL_SPOKEN = re.compile(
    r"\b([a-z0-9]+(?:\s(?:dot|underscore|dash)\s[a-z0-9]+)*)\s(?:at)\s"
    r"((?:[a-z0-9-]+\s){0,2}[a-z0-9-]+(?:\s(?:dot)\s[a-z]{2,})+)\b"
)
_SPOKEN_SYMBOLS = {" dot ": ".", " underscore ": "_", " dash ": "-"}

_MEETING_WISH = re.compile(
    r"\b(?:book|schedule|set up|setup|arrange|pencil|put (?:me|us) down|lock (?:it|that) in|grab|reserve"
    r"|let'?s (?:do|meet|talk)|(?:happy|glad|open|up) (?:to|for) (?:a |the )?"
    r"(?:meeting|call|demo|chat|tour|visit)"
    r"|(?:a|the) (?:demo|meeting|call|chat|tour|visit|walkthrough|consultation)|meet(?:ing)?|works for me"
    r"|works for us|that works|i'?m free|we'?re free|i'?m available|how about|(?:calendar|meeting) invite"
    r"|invite (?:me|us))\b"
)
# "Can we book meeting rooms?" asks about the product, not for a meeting with the agent.
_NOT_A_MEETING = re.compile(r"\bmeeting (?:rooms?|space|spaces)\b|\bconference rooms?\b")

_PROPOSES_MEETING = re.compile(
    r"\b(?:meeting|demo|call|chat|walkthrough|conversation|slot|tour|visit|consultation)\b"
    r"|\bwhat (?:day|time)s?\b"
    r"|\bwhen (?:would|works|is good|are you)\b"
)
_QUESTION_SENTENCE = re.compile(r"[^.!?]*\?")


def find_name(text: str) -> str | None:
    for match in _NAME.finditer(text):
        parts = match.group(1).split()
        if parts[0] in _NOT_NAMES:
            continue
        kept = [part for part in parts if part not in _NOT_NAMES]
        return " ".join(kept) or None
    return None


def find_email(text: str) -> str | None:
    written = _EMAIL_WRITTEN.search(text)
    if written:
        return written.group(0).lower()
    spoken = _EMAIL_SPOKEN.search(normalize_utterance(text).replace("@", " at "))
    if not spoken:
        return None
    user, domain = f" {spoken.group(1)} ", f" {spoken.group(2)} "
    for word, symbol in _SPOKEN_SYMBOLS.items():
        user = user.replace(word, symbol)
        domain = domain.replace(word, symbol)
    return f"{user.strip()}@{domain.strip()}".replace(" ", "")


def find_objection(text: str) -> str | None:
    """The objection kind in ``text`` by the shared lexicon's patterns (``dialogue.lexicon``)."""
    norm = normalize_utterance(text)
    for kind, pattern in OBJECTIONS:
        if pattern.search(norm):
            return kind.value
    return None


def asks_for_human(text: str) -> bool:
    """A request for a person; "are you a robot?" is a question about the agent, not such a request."""
    norm = normalize_utterance(text)
    return bool(HUMAN_REQUEST.search(norm)) and not AI_QUESTION.search(norm)


def looks_like_voicemail(text: str) -> bool:
    return bool(VOICEMAIL.search(normalize_utterance(text)))


def wants_meeting(text: str) -> bool:
    norm = _NOT_A_MEETING.sub(" ", normalize_utterance(text))
    return bool(_MEETING_WISH.search(norm))


def proposes_meeting(agent_text: str) -> bool:
    """Did this agent line ask the caller about meeting (so a "yes" or a day/time answers it)?"""
    questions = _QUESTION_SENTENCE.findall(agent_text.lower())
    return any(_PROPOSES_MEETING.search(question) for question in questions)
