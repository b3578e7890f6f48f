"""Everything the dialogue reads off one caller turn before answering it (synchronously, so the voice
session can store the turn's annotations before the answer streams)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdr_agent.dialogue.caller_facts import (
    asks_for_human,
    find_email,
    find_name,
    find_objection,
    wants_meeting,
)
from sdr_agent.dialogue.intents import Intent, IntentClassifier, Polarity
from sdr_agent.dialogue.meetings import SlotMention, find_slot


@dataclass(frozen=True, slots=True)
class CallerTurn:
    text: str
    intent: Intent
    polarity: Polarity | None
    sentiment: float
    objection: str | None
    asks_for_human: bool
    wants_meeting: bool
    slot: SlotMention | None
    name: str | None
    email: str | None

    @property
    def word_count(self) -> int:
        return len(self.text.split())

    def annotations(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.polarity:
            extra["polarity"] = self.polarity
        if self.objection:
            extra["objection"] = self.objection
        if self.slot:
            extra["slot"] = self.slot.text
        if self.asks_for_human:
            extra["asks_for_human"] = True
        return extra


def analyze_turn(text: str, classifier: IntentClassifier, sentiment: float) -> CallerTurn:
    clean = " ".join(text.split())
    result = classifier.classify(clean)
    return CallerTurn(
        text=clean,
        intent=result.intent,
        polarity=result.polarity,
        sentiment=sentiment,
        objection=find_objection(clean),
        asks_for_human=asks_for_human(clean),
        wants_meeting=wants_meeting(clean),
        slot=find_slot(clean),
        name=find_name(clean),
        email=find_email(clean),
    )
