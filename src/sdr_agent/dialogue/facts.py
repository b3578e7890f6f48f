"""What happened in one call, kept for post-call analysis (``Dialogue.state_snapshot``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[a-z0-9']+")


def _content_words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if len(word) > 3}


def record_answer(record: dict[str, Any], answer: str, context: Sequence[tuple[str, str]]) -> None:
    """Mark a caller question answered from the knowledge base when most of the answer's words come from
    the retrieved passages (``context`` = (source id, text) pairs) and it is not a follow-up promise."""
    words = _content_words(answer)
    known: set[str] = set()
    for _, text in context:
        known |= _content_words(text)
    follow_up = "follow up" in answer.lower()
    record["answered_from_kb"] = bool(words) and not follow_up and len(words & known) >= 0.5 * len(words)
    record["sources"] = [source for source, _ in context]


@dataclass
class CallFacts:
    intents: list[str] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, str]] = field(default_factory=list)
    meetings: list[dict[str, Any]] = field(default_factory=list)
    tools_used: list[dict[str, Any]] = field(default_factory=list)
    caller_name: str | None = None
    caller_email: str | None = None
    escalation: dict[str, Any] | None = None
    voicemail: bool = False
    end_reason: str | None = None
    qualifying_asked: list[str] = field(default_factory=list)

    def add_question(self, text: str) -> dict[str, Any]:
        record: dict[str, Any] = {"text": text, "answered_from_kb": False, "sources": []}
        self.questions.append(record)
        return record

    def add_objection(self, kind: str, text: str) -> None:
        self.objections.append({"kind": kind, "text": text})

    def objection_count(self, kind: str) -> int:
        return sum(1 for item in self.objections if item["kind"] == kind)

    def escalate(self, reason: str, **details: Any) -> None:
        self.escalation = {"reason": reason, **(self.escalation or {}), **details}

    def snapshot(self, phase: str) -> dict[str, Any]:
        return {
            "phase": phase,
            "intents": list(self.intents),
            "intent_counts": dict(Counter(self.intents)),
            "questions": [dict(item) for item in self.questions],
            "objections": [dict(item) for item in self.objections],
            "meetings_booked": [dict(item) for item in self.meetings],
            "tools_used": [dict(item) for item in self.tools_used],
            "caller": {"name": self.caller_name, "email": self.caller_email},
            "escalation": dict(self.escalation) if self.escalation else None,
            "voicemail": self.voicemail,
            "end_reason": self.end_reason,
            "qualifying_questions_asked": list(self.qualifying_asked),
        }
