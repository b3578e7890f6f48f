"""Everything the dialogue reads off one caller turn before answering it (synchronously, so the voice
session can store the turn's annotations before the answer streams)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sdr_agent.dialogue.caller_facts import find_email, find_name, wants_meeting
from sdr_agent.dialogue.intents import Intent, IntentClassifier, Polarity
from sdr_agent.dialogue.lexicon import Objection, Signal
from sdr_agent.dialogue.meetings import SlotMention, find_slot
from sdr_agent.dialogue.signals import TurnSignals, read_signals


@dataclass(frozen=True, slots=True)
class CallerTurn:
    text: str
    intent: Intent
    polarity: Polarity | None
    sentiment: float
    signals: TurnSignals
    wants_meeting: bool
    slot: SlotMention | None
    name: str | None
    email: str | None

    @property
    def word_count(self) -> int:
        return len(self.text.split())

    @property
    def objection(self) -> Objection | None:
        return self.signals.objection

    @property
    def asks_for_human(self) -> bool:
        return self.signals.signal is Signal.HUMAN_REQUEST

    def with_signals(self, signals: TurnSignals) -> CallerTurn:
        return replace(self, signals=signals)

    def annotations(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.polarity:
            extra["polarity"] = self.polarity
        if self.objection:
            extra["objection"] = self.objection.value
        if self.signals.signal:
            extra["signal"] = self.signals.signal.value
        if self.signals.language:
            extra["language"] = self.signals.language
        if self.slot:
            extra["slot"] = self.slot.text
        if self.asks_for_human:
            extra["asks_for_human"] = True
        return extra


def analyze_turn(text: str, classifier: IntentClassifier, sentiment: float) -> CallerTurn:
    """Patterns only (fast); the dialogue may refine ``signals`` with the embedder off the event loop."""
    clean = " ".join(text.split())
    result = classifier.classify(clean)
    return CallerTurn(
        text=clean,
        intent=result.intent,
        polarity=result.polarity,
        sentiment=sentiment,
        signals=read_signals(clean),
        wants_meeting=wants_meeting(clean),
        slot=find_slot(clean),
        name=find_name(clean),
        email=find_email(clean),
    )
