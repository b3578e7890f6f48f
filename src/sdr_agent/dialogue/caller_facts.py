"""Facts the dialogue notices in what the caller says: name, email, objections, a request for a human,
a voicemail greeting, a wish to meet. Pure functions over one utterance."""

from __future__ import annotations

import re

from sdr_agent.dialogue.intents import normalize_utterance

_NAME = re.compile(
    r"\b(?i:my name is|my name's|name is|this is|it's|it is|call me|i am|i'm)\s+"
    r"([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
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
_EMAIL_SPOKEN = re.compile(
    r"\b([a-z0-9]+(?:\s(?:dot|underscore|dash)\s[a-z0-9]+)*)\s(?:at)\s([a-z0-9-]+(?:\s(?:dot)\s[a-z]{2,})+)\b"
)
_SPOKEN_SYMBOLS = {" dot ": ".", " underscore ": "_", " dash ": "-"}

OBJECTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "not_interested",
        re.compile(
            r"\b(?:not interested|no interest|not for us|not something we need"
            r"|we'?re good|we are good|we'?re all set|don'?t need (?:it|this|that))\b"
        ),
    ),
    (
        "bad_timing",
        re.compile(
            r"\b(?:busy|bad time|not a good time|in a meeting|driving|call (?:me )?(?:back )?later"
            r"|no time|swamped|next quarter|not right now)\b"
        ),
    ),
    (
        "price",
        re.compile(
            r"\b(?:too expensive|expensive|budget|can'?t afford|too much money|pricey|costly"
            r"|cost(?:s)? too much)\b"
        ),
    ),
    (
        "competitor",
        re.compile(
            r"\b(?:already (?:use|using|have|work with)|happy with (?:our|what|the)"
            r"|current (?:vendor|provider|tool|solution)|we use)\b"
        ),
    ),
    (
        "send_info",
        re.compile(
            r"\b(?:send me (?:some )?(?:info|information|an email|details|something)"
            r"|just email me|email me (?:some|the) (?:info|details))\b"
        ),
    ),
    (
        "authority",
        re.compile(
            r"\b(?:not (?:the|my) decision|not the right person|talk to my (?:boss|manager)"
            r"|decision maker|makes those decisions|makes the decisions)\b"
        ),
    ),
)

_HUMAN_REQUEST = re.compile(
    r"\b(?:(?:talk|speak|chat) (?:to|with) (?:a |an |the |your |some )?(?:human|real person|person|manager|"
    r"supervisor|someone|somebody|representative|rep|agent|operator|live agent|actual person|boss)"
    r"|(?:get|give|transfer|connect|put) me (?:to|with|through to)? ?(?:a |an |the |your )?"
    r"(?:human|real person|"
    r"manager|supervisor|representative|operator|someone)|are you a (?:robot|bot|machine|real person)"
    r"|(?:human|real person|manager|supervisor),? please|i want a (?:human|real person|manager))\b"
)

_VOICEMAIL = re.compile(
    r"\b(?:leave (?:a|your|me a) (?:message|name and number|voicemail)|after the (?:tone|beep)"
    r"|at the (?:tone|beep)|(?:not|un)available (?:to take|right now|at the moment)"
    r"|can'?t (?:come to|take) (?:the|your) (?:phone|call)"
    r"|voice ?mail|mailbox|record your message|please leave|you have reached|you've reached)\b"
)

_MEETING_WISH = re.compile(
    r"\b(?:book|schedule|set up|setup|arrange|pencil|put (?:me|us) down|lock (?:it|that) in|grab|reserve"
    r"|let'?s (?:do|meet|talk)|(?:happy|glad|open|up) (?:to|for) (?:a |the )?(?:meeting|call|demo|chat)"
    r"|(?:a|the) (?:demo|meeting|call|chat)|meet(?:ing)?|works for me|works for us|that works|i'?m free"
    r"|we'?re free|i'?m available|how about)\b"
)

_PROPOSES_MEETING = re.compile(
    r"\b(?:meeting|demo|call|chat|walkthrough|conversation|slot)\b|\bwhat (?:day|time)s?\b"
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
    norm = normalize_utterance(text)
    for kind, pattern in OBJECTION_PATTERNS:
        if pattern.search(norm):
            return kind
    return None


def asks_for_human(text: str) -> bool:
    return bool(_HUMAN_REQUEST.search(normalize_utterance(text)))


def looks_like_voicemail(text: str) -> bool:
    return bool(_VOICEMAIL.search(normalize_utterance(text)))


def wants_meeting(text: str) -> bool:
    return bool(_MEETING_WISH.search(normalize_utterance(text)))


def proposes_meeting(agent_text: str) -> bool:
    """Did this agent line ask the caller about meeting (so a "yes" or a day/time answers it)?"""
    questions = _QUESTION_SENTENCE.findall(agent_text.lower())
    return any(_PROPOSES_MEETING.search(question) for question in questions)
