"""Facts about a finished call, read deterministically from the transcript, the tool calls, the meetings
table and the dialogue's state snapshot. Everything the offline analyzer decides is based on these.

Dialogue state keys read (all optional; ``dialogue.facts.CallFacts.snapshot`` writes most of them):
``meetings_booked`` (list of {starts_at, timezone, when_text, ...}), ``objections`` ([{kind, text}]),
``questions`` ([{text, ...}]), ``caller`` ({name, email}), ``escalation`` ({reason} or None), ``voicemail``,
``phase``; also ``meeting_booked`` (bool), ``collected`` (captured fields such as budget, timeline, email) and
``callback_requested``. Objection kinds match the dialogue's (price, bad_timing, competitor, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sdr_agent.analysis.sentiment import score_sentiment
from sdr_agent.dialogue.intents import normalize_utterance
from sdr_agent.dialogue.lexicon import (
    AI_QUESTION,
    DECLINE,
    HUMAN_REQUEST,
    OBJECTIONS,
    OBJECTIONS_BY_KIND,
    OPT_OUT,
    Objection,
)
from sdr_agent.storage.repos.conversations import TurnRecord

# The same phrase lists the live dialogue routes by (``dialogue.lexicon``), so the report and the call agree
# on what an opt-out, an objection or a request for a human is.
_CALLBACK = OBJECTIONS_BY_KIND[Objection.CALL_LATER]
_QUESTION_START = re.compile(
    r"^(what|how|when|where|who|why|which|can you|could you|do you|does it|does this|is it|is there|"
    r"are there|would it|will it|can i|can it)\b"
)
# A dot inside a token ("3 p.m.", "e.g.", "99.9") does not end a sentence: "p.m?" left a question "m?".
_SENTENCE = re.compile(r"(?:[^.?!]|\.(?=\w))+[.?!]*")
_MONEY = re.compile(
    r"(\$\s?\d[\d,]*(?:\.\d+)?\s?(?:k|thousand|million|m)?\b|"
    r"\b\d[\d,]*(?:\.\d+)?\s?(?:k|thousand|million)?\s?(?:dollars|usd|bucks|euros|pounds)\b|"
    r"\b\d[\d,]*(?:\.\d+)?\s?(?:k|thousand|million)\b)"
)
_TIMELINE = re.compile(
    r"\b(next|this|end of (the )?) ?(week|month|quarter|year)\b|\bq[1-4]\b|"
    r"\b(in|within) (the next )?(a|an|one|two|three|four|five|six|few|couple of|\d+) "
    r"(days?|weeks?|months?|years?)\b|"
    r"\b(by|before|after|in|from) (january|february|march|april|may|june|july|august|september|october|"
    r"november|december)\b|\b(asap|as soon as possible|right away|immediately)\b"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Speech-to-text spells addresses out: "jane at acme dot com".
_SPOKEN_EMAIL = re.compile(
    r"\b([a-z0-9_-]+(?: dot [a-z0-9_-]+)*) at ([a-z0-9-]+(?: dot [a-z0-9-]+)*) "
    r"dot (com|io|net|org|co|ai|dev|uk)\b"
)
_TEAM = re.compile(r"\b(\d[\d,]*)\s+(people|employees|staff|users|seats|agents|reps|salespeople|engineers)\b")
_BOOKING_TOOL = re.compile(r"book|schedul|meeting|appointment|calendar")


@dataclass(slots=True)
class CallFacts:
    caller_turns: int = 0
    agent_turns: int = 0
    meeting_booked: bool = False
    meeting_detail: str | None = None
    objections: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    unanswered_questions: int = 0
    declined: bool = False
    callback_requested: bool = False
    human_requested: bool = False
    budget: str | None = None
    timeline: str | None = None
    email: str | None = None
    team_size: str | None = None
    average_sentiment: float | None = None
    collected: dict[str, Any] = field(default_factory=dict)
    caller_name: str | None = None
    escalation_reason: str | None = None
    voicemail: bool = False
    phase: str | None = None
    tools_used: list[str] = field(default_factory=list)


def gather_facts(turns: list[TurnRecord], state: dict[str, Any], meetings: list[dict[str, Any]]) -> CallFacts:
    facts = CallFacts()
    caller_texts: list[str] = []
    sentiments: list[float] = []
    for index, turn in enumerate(turns):
        text = (turn.message or "").strip()
        if turn.role == "user":
            if not text:
                continue
            facts.caller_turns += 1
            caller_texts.append(text)
            sentiments.append(turn.sentiment if turn.sentiment is not None else score_sentiment(text))
            asked = _questions(text)
            facts.questions.extend(asked)
            if asked and not _answered(turns, index):
                facts.unanswered_questions += len(asked)
        elif turn.role == "agent":
            facts.agent_turns += 1 if text else 0
            _read_tools(turn, facts)
    lowered = [t.lower() for t in caller_texts]
    normalized = [normalize_utterance(t) for t in caller_texts]
    facts.declined = any(DECLINE.search(t) or OPT_OUT.search(t) for t in normalized)
    facts.callback_requested = any(_CALLBACK.search(t) for t in normalized)
    facts.human_requested = any(HUMAN_REQUEST.search(t) and not AI_QUESTION.search(t) for t in normalized)
    facts.objections = [
        kind.value for kind, pattern in OBJECTIONS if any(pattern.search(t) for t in normalized)
    ]
    facts.budget = _first_match(lowered, _MONEY, near="budget") or _first_match(lowered, _MONEY)
    facts.timeline = _first_match(lowered, _TIMELINE)
    facts.email = _first_match(caller_texts, _EMAIL) or _spoken_email(lowered)
    facts.team_size = _first_match(lowered, _TEAM)
    facts.average_sentiment = round(sum(sentiments) / len(sentiments), 3) if sentiments else None
    if meetings:
        facts.meeting_booked = True
        facts.meeting_detail = facts.meeting_detail or _meeting_detail(meetings[0])
    _read_state(state, facts)
    return facts


def _questions(text: str) -> list[str]:
    found = []
    for sentence in _SENTENCE.findall(text):
        clean = sentence.strip()
        if clean.endswith("?") or _QUESTION_START.match(clean.lower()):
            found.append(clean.rstrip("?.! ") + "?")
    return found


def _answered(turns: list[TurnRecord], index: int) -> bool:
    for later in turns[index + 1 :]:
        if later.role == "agent" and (later.message or "").strip():
            return True
        if later.role == "user" and (later.message or "").strip():
            return False
    return False


def _read_tools(turn: TurnRecord, facts: CallFacts) -> None:
    failed = {
        str(r.get("request_id")) for r in turn.tool_results if isinstance(r, dict) and r.get("is_error")
    }
    for call in turn.tool_calls:
        if not isinstance(call, dict):
            continue
        name = str(call.get("tool_name") or call.get("name") or "")
        if name:
            facts.tools_used.append(name)
        if _BOOKING_TOOL.search(name.lower()) and str(call.get("request_id")) not in failed:
            facts.meeting_booked = True


def _read_state(state: dict[str, Any], facts: CallFacts) -> None:
    if not isinstance(state, dict):
        return
    meetings = state.get("meetings_booked", state.get("meetings"))
    if state.get("meeting_booked") or (isinstance(meetings, list) and meetings):
        facts.meeting_booked = True
        if (
            isinstance(meetings, list)
            and meetings
            and isinstance(meetings[0], dict)
            and not facts.meeting_detail
        ):
            facts.meeting_detail = _meeting_detail(meetings[0])
    for key, target in (("objections", facts.objections), ("questions", facts.questions)):
        items = state.get(key)
        for item in items if isinstance(items, list) else []:
            label = _label(item)
            if label and label not in target:
                target.append(label)
    caller = state.get("caller")
    if isinstance(caller, dict):
        facts.email = _text_or(caller.get("email"), facts.email)
        facts.caller_name = _text_or(caller.get("name"), None)
    collected = state.get("collected")
    if isinstance(collected, dict):
        facts.collected = {str(k): v for k, v in collected.items() if v not in (None, "")}
    facts.budget = _text_or(facts.collected.get("budget"), facts.budget)
    facts.timeline = _text_or(facts.collected.get("timeline"), facts.timeline)
    facts.email = _text_or(facts.collected.get("email"), facts.email)
    escalation = state.get("escalation")
    if isinstance(escalation, dict) and escalation.get("reason"):
        facts.escalation_reason = str(escalation["reason"])
    facts.voicemail = bool(state.get("voicemail"))
    facts.phase = str(state["phase"]) if state.get("phase") else None
    facts.callback_requested = facts.callback_requested or bool(state.get("callback_requested"))
    facts.human_requested = facts.human_requested or bool(state.get("human_requested"))


def _label(item: object) -> str | None:
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, dict):
        for key in ("kind", "type", "text", "objection", "question", "name"):
            if item.get(key):
                return str(item[key]).strip()
    return None


def _text_or(value: object, default: str | None) -> str | None:
    return default if value in (None, "") else str(value)


def _first_match(texts: list[str], pattern: re.Pattern[str], near: str | None = None) -> str | None:
    for text in texts:
        if near is not None and near not in text:
            continue
        found = pattern.search(text)
        if found:
            return found.group(0).strip()
    return None


def _spoken_email(texts: list[str]) -> str | None:
    for text in texts:
        found = _SPOKEN_EMAIL.search(text)
        if found:
            local, domain = (part.replace(" dot ", ".") for part in found.group(1, 2))
            return f"{local}@{domain}.{found.group(3)}"
    return None


def _meeting_detail(meeting: dict[str, Any]) -> str | None:
    if meeting.get("when_text"):
        return str(meeting["when_text"])
    starts = meeting.get("starts_at") or meeting.get("start") or meeting.get("time")
    if not starts:
        return None
    zone = meeting.get("timezone")
    return f"{starts} {zone}" if zone and zone not in str(starts) else str(starts)
