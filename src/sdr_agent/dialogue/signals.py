"""What a caller turn asks of the dialogue beyond its words: a compliance move (opt-out, "are you a robot?",
hostility, wrong number), a gatekeeper, "who is this?", an objection, another language, a voicemail greeting.

Patterns from ``dialogue.lexicon`` are the fast path. When none fires and the call has an embedder (the
product's MiniLM), the turn is compared with the lexicon's labelled examples and the nearest label is taken
when it is close enough — stricter for the moves that end a call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sdr_agent.dialogue.intents import normalize_utterance
from sdr_agent.dialogue.language import detect_language
from sdr_agent.dialogue.lexicon import (
    AI_QUESTION,
    GATEKEEPER,
    HOSTILE,
    HUMAN_REQUEST,
    IDENTITY,
    OBJECTION_EXAMPLES,
    OBJECTIONS,
    OPT_OUT,
    SIGNAL_EXAMPLES,
    VOICEMAIL,
    WRONG_NUMBER,
    Objection,
    Signal,
)
from sdr_agent.engines.base import Embedder

log = logging.getLogger(__name__)

# Checked in this order: an opt-out said angrily is still an opt-out; "am I talking to a real person?" is
# a question about the agent, never a request for a human.
_RULES = (
    (Signal.OPT_OUT, OPT_OUT),
    (Signal.AI_QUESTION, AI_QUESTION),
    (Signal.HOSTILE, HOSTILE),
    (Signal.WRONG_NUMBER, WRONG_NUMBER),
    (Signal.GATEKEEPER, GATEKEEPER),
    (Signal.HUMAN_REQUEST, HUMAN_REQUEST),
    (Signal.IDENTITY, IDENTITY),
)
# Nearest-example thresholds (cosine, MiniLM): moves that end the call need a closer match.
_SIGNAL_MIN = {Signal.OPT_OUT: 0.68, Signal.HOSTILE: 0.68, Signal.WRONG_NUMBER: 0.72}
_DEFAULT_MIN = 0.62
_OBJECTION_MIN = 0.6
_MIN_WORDS_FOR_NEIGHBOURS = 3


@dataclass(frozen=True, slots=True)
class TurnSignals:
    signal: Signal | None = None
    objection: Objection | None = None
    language: str | None = None  # ISO code of a non-English turn
    voicemail_like: bool = False
    phrase: str = ""  # the caller's words that carried the signal


class ExampleIndex:
    """Embeddings of the lexicon's labelled examples, built once per embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._labels: list[Signal | Objection] = []
        texts: list[str] = []
        for signal, examples in SIGNAL_EXAMPLES.items():
            texts += examples
            self._labels += [signal] * len(examples)
        for objection, examples in OBJECTION_EXAMPLES.items():
            texts += examples
            self._labels += [objection] * len(examples)
        self._matrix = np.asarray(embedder.embed(texts), dtype=np.float32)

    def nearest(self, text: str) -> tuple[Signal | Objection, float]:
        query = np.asarray(self.embedder.embed([text])[0], dtype=np.float32)
        scores = self._matrix @ query
        best = int(np.argmax(scores))
        return self._labels[best], float(scores[best])


_indexes: dict[int, ExampleIndex] = {}


def example_index(embedder: Embedder | None) -> ExampleIndex | None:
    if embedder is None:
        return None
    index = _indexes.get(id(embedder))
    if index is None or index.embedder is not embedder:
        try:
            index = _indexes[id(embedder)] = ExampleIndex(embedder)
        except Exception:
            log.exception("embedding the lexicon examples failed; routing by patterns only")
            return None
    return index


def warm_up(embedder: Embedder) -> None:
    """Embed the labelled examples (caller signals and intents) now, not on a call's first ambiguous turn."""
    from sdr_agent.dialogue.intents import IntentClassifier

    example_index(embedder)
    IntentClassifier(embedder).classify("mm hmm well then")  # an OTHER turn: builds the intent examples


def find_objection(norm: str) -> Objection | None:
    for kind, pattern in OBJECTIONS:
        if pattern.search(norm):
            return kind
    return None


def read_signals(text: str, index: ExampleIndex | None = None) -> TurnSignals:
    norm = normalize_utterance(text)
    if not norm:
        return TurnSignals()
    language = detect_language(text)
    voicemail_like = bool(VOICEMAIL.search(norm))
    for signal, pattern in _RULES:
        if match := pattern.search(norm):
            return TurnSignals(signal, find_objection(norm), language, voicemail_like, match.group(0))
    objection = find_objection(norm)
    if objection is not None or index is None or language or len(norm.split()) < _MIN_WORDS_FOR_NEIGHBOURS:
        return TurnSignals(None, objection, language, voicemail_like)
    try:
        label, score = index.nearest(norm)
    except Exception:
        log.exception("embedding a caller turn failed; routing by patterns only")
        return TurnSignals(language=language, voicemail_like=voicemail_like)
    if isinstance(label, Signal) and score >= _SIGNAL_MIN.get(label, _DEFAULT_MIN):
        return TurnSignals(label, None, language, voicemail_like, text)
    if isinstance(label, Objection) and score >= _OBJECTION_MIN:
        return TurnSignals(None, label, language, voicemail_like)
    return TurnSignals(language=language, voicemail_like=voicemail_like)
