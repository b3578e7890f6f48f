"""Checks every sentence a language model wants said — any engine, the offline one included — before the
caller hears it:

- a price, number or percentage that appears neither in the retrieved passages, the prompt, nor the caller's
  own words (nor a tool result) is not said; a follow-up promise is said instead, and it is logged;
- a discount or special offer the knowledge base and prompt never mention is not promised;
- the agent never claims to be a human;
- no sentence is said twice in one call (the first message and the goodbye excepted).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sdr_agent.dialogue.number_words import NUMBER_WORDS as _WORD_NUMBERS
from sdr_agent.dialogue.speech_text import clean_for_speech

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?:[^.!?]|[.](?=\d))+(?:[.!?]+|$)")  # "99.9%" does not end a sentence
_DIGITS = re.compile(r"\d+(?:[,.]\d+)*")
# A spelled number is a claim only next to a unit ("twenty percent", "fifty dollars"); "one of our
# customers" is not a figure.
_SPELLED_FIGURE = re.compile(
    r"\b(" + "|".join(_WORD_NUMBERS) + r")(?:[\s-](?:" + "|".join(_WORD_NUMBERS) + r"))*\s+"
    r"(?:percent|per ?cent|dollars?|euros?|pounds?|bucks|cents?|users?|seats?|employees?|people|customers?|"
    r"clients?|days?|weeks?|months?|years?|hours?|minutes?|times|x|k|thousand|million|billion)\b",
    re.IGNORECASE,
)
_DISCOUNT = re.compile(
    r"\b(?:discount\w*|\d+\s?(?:%|percent) off|percent off|money off|free (?:month|months|year|upgrade)|"
    r"waive\w*|special (?:offer|deal|price|pricing|rate)|promo\w*|coupon|price match\w*|cheaper for you|"
    r"lower (?:the|your|our) price|knock (?:off|down))\b",
    re.IGNORECASE,
)
_HUMAN_CLAIM = re.compile(
    r"\b(?:i'?m|i am)\s+(?:a\s+|an\s+)?(?:real\s+|actual\s+|live\s+)?(?:human|person|human being)\b"
    r"|\b(?:i'?m|i am)\s+not\s+(?:a\s+|an\s+)?(?:robot|bot|ai|a\.i\.|machine|computer|automated|recording)\b",
    re.IGNORECASE,
)


def sentences(text: str) -> list[str]:
    return [" ".join(m.group(0).split()) for m in _SENTENCE.finditer(text) if m.group(0).strip()]


def normalize_sentence(sentence: str) -> str:
    """The sentence as heard: "$49" and "49 dollars" are the same sentence."""
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", clean_for_speech(sentence).lower()).split())


def _value(token: str) -> float | None:
    cleaned = token.replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def figures(text: str) -> set[float]:
    """Every number stated in ``text`` as a value: "$1,200" → 1200, "fifteen percent" → 15, "24/7" → 24, 7."""
    found = {value for token in _DIGITS.findall(text) if (value := _value(token)) is not None}
    for match in _SPELLED_FIGURE.finditer(text):
        words = re.split(r"[\s-]+", match.group(0).lower())
        total = 0.0
        for word in words:
            if word in ("hundred", "thousand") and total:
                total *= _WORD_NUMBERS[word]
            elif word in _WORD_NUMBERS:
                total += _WORD_NUMBERS[word]
        found.add(total)
    return found


class SaidLog:
    """Sentences said on this call, normalised; exempt ones (first message, goodbye) may be said again."""

    def __init__(self, exempt: Iterable[str] = ()) -> None:
        self._said: set[str] = set()
        self._exempt = {normalize_sentence(s) for text in exempt for s in sentences(text)}

    def add(self, text: str) -> None:
        self._said.update(normalize_sentence(s) for s in sentences(text))

    def said(self, text: str) -> bool:
        """Was any sentence of ``text`` said already (exempt ones aside)?"""
        keys = (normalize_sentence(s) for s in sentences(text))
        return any(key and key in self._said and key not in self._exempt for key in keys)

    def fresh(self, options: Sequence[str]) -> str | None:
        """The first option not said yet (None when all have been)."""
        return next((option for option in options if not self.said(option)), None)


@dataclass(frozen=True, slots=True)
class GuardEvent:
    rule: str  # unsupported_figure | discount | human_claim | repeat
    sentence: str
    replacement: str


@dataclass
class SpokenGuard:
    """One reply's checker. ``sources`` is everything the agent may take figures from."""

    sources: Sequence[str]
    said: SaidLog
    follow_ups: Sequence[str]
    disclosure: str
    events: list[GuardEvent] = field(default_factory=list)
    _buffer: str = ""

    def __post_init__(self) -> None:
        joined = "\n".join(self.sources)
        self._allowed = figures(joined)
        self._discounts_known = bool(_DISCOUNT.search(joined))

    def feed(self, piece: str) -> str:
        """Text ready to speak (whole sentences that passed); the rest waits for its sentence to end."""
        self._buffer += piece
        cut = max(self._buffer.rfind(". "), self._buffer.rfind("? "), self._buffer.rfind("! "))
        if cut < 0:
            return ""
        ready, self._buffer = self._buffer[: cut + 2], self._buffer[cut + 2 :]
        return self._check(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._check(ready)

    def _check(self, text: str) -> str:
        kept: list[str] = []
        for sentence in sentences(text):
            safe = self._sentence(sentence)
            if safe:
                self.said.add(safe)
                kept.append(safe)
        return " ".join(kept) + " " if kept else ""

    def _replace(self, rule: str, sentence: str, options: Sequence[str]) -> str:
        replacement = self.said.fresh(options) or ""
        log.warning("guardrail %s: replaced %r with %r", rule, sentence, replacement)
        self.events.append(GuardEvent(rule, sentence, replacement))
        return replacement

    def _sentence(self, sentence: str) -> str:
        if _HUMAN_CLAIM.search(sentence):
            return self._replace("human_claim", sentence, (self.disclosure,))
        unsupported = figures(sentence) - self._allowed
        if unsupported:
            return self._replace("unsupported_figure", sentence, self.follow_ups)
        if _DISCOUNT.search(sentence) and not self._discounts_known:
            return self._replace(
                "discount",
                sentence,
                (
                    "I can't promise any special pricing myself, but I'll ask the team and follow up "
                    "with you.",
                ),
            )
        if self.said.said(sentence):
            self.events.append(GuardEvent("repeat", sentence, ""))
            return ""
        return sentence
