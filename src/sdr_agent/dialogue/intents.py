"""Caller intent classification: fast phrase rules, optionally backed by embedding nearest-neighbour.

Phone transcripts rarely carry punctuation and callers answer in fragments ("yeah go ahead",
"how much is it"), so the rules look at leading words and known phrases rather than grammar.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np

from sdr_agent.engines.base import Embedder, Vector

log = logging.getLogger(__name__)

Polarity = Literal["yes", "no"]


class Intent(StrEnum):
    HELLO = "HELLO"
    GOODBYE = "GOODBYE"
    CONFIRM = "CONFIRM"
    QUESTION = "QUESTION"
    ACTION = "ACTION"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: Intent
    polarity: Polarity | None = None  # set for CONFIRM, and for other turns that open with a clear yes/no
    confidence: float = 1.0


def normalize_utterance(text: str) -> str:
    """Lower-case words separated by single spaces; keeps apostrophes, drops other punctuation."""
    lowered = text.lower().replace("’", "'")
    return " ".join(re.sub(r"[^a-z0-9'@.\s]|(?<!\w)\.|\.(?!\w)", " ", lowered).split())


def _phrases(*items: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(items) + r")\b")


_GOODBYE = _phrases(
    r"good ?bye",
    r"bye(?: bye)?",
    r"talk (?:to you )?(?:later|soon)",
    r"speak (?:to you )?(?:later|soon)",
    r"have a (?:good|nice|great|lovely) (?:day|one|evening|weekend|afternoon|night)",
    r"take care",
    r"that'?s (?:all|it)(?: for now| for today)?",
    r"that is all",
    r"(?:got|gotta|have|need) to (?:go|run|hop off)",
    r"gotta (?:go|run)",
    r"i'?ll let you go",
    r"see (?:you|ya)",
    r"catch you later",
    r"hang(?:ing)? up",
    r"stop calling",
    r"(?:don'?t|do not|never) call (?:me|us|here|this number)",
    r"remove (?:me|my number|us)",
    r"take me off",
    r"i'?m done(?: here)?",
    r"nothing else",
    r"we'?re done(?: here)?",
    r"end (?:the|this) call",
)
_HELLO_START = re.compile(
    r"^(?:(?:yes |yeah |oh )?(?:hi|hello|hey|hiya|howdy|greetings)\b|(?:good )?(?:morning|afternoon|evening)$"
    r"|good (?:morning|afternoon|evening)\b"
    r"|(?:yes |yeah )?(?:this is|it'?s) \w+(?: \w+)?(?: speaking| here)?$|\w+ speaking$|speaking$)"
)
_HELLO_TAIL = re.compile(
    r"^(?:(?:there|again) )?(?:there|again|yes|yeah|hi|hello|how are you(?: doing)?(?: today)?"
    r"|(?:sorry )?who'?s (?:this|calling)|(?:sorry )?who is (?:this|calling)|this is \w+(?: \w+)?|it'?s \w+"
    r"|\w+ here|speaking|good|fine|thanks|thank you|doing well|i'?m good|i'?m fine|[a-z']+)$"
)
_YES = _phrases(
    r"yes",
    r"yeah",
    r"yea",
    r"yep",
    r"yup",
    r"sure(?: thing)?",
    r"of course",
    r"absolutely",
    r"definitely",
    r"certainly",
    r"correct",
    r"(?:that'?s|that is) (?:right|correct|fine|perfect|great)",
    r"right",
    r"sounds (?:good|great|perfect|fine)",
    r"(?:that|it) works",
    r"works for me",
    r"perfect",
    r"ok(?:ay)?",
    r"go ahead",
    r"please do",
    r"do it",
    r"book it",
    r"let'?s do (?:it|that)",
    r"all ?right",
    r"fine",
    r"great",
    r"please",
    r"affirmative",
    r"i do",
    r"i am",
    r"we do",
    r"we are",
    r"i would",
    r"i guess so",
)
_NO = _phrases(
    r"no",
    r"nope",
    r"nah",
    r"not really",
    r"not now",
    r"no thanks?(?: you)?",
    r"never ?mind",
    r"cancel(?: it| that)?",
    r"don'?t",
    r"do not",
    r"(?:that'?s|that is) (?:wrong|not right|incorrect)",
    r"incorrect",
    r"wrong",
    r"hold off",
    r"i don'?t think so",
    r"negative",
    r"not at all",
    r"wait",
    r"i'?d rather not",
)
_NEGATION_LEAD = re.compile(r"^(?:no|nope|nah|not really|never ?mind|don'?t|do not|hold off|wait)\b")
_YES_LEAD = re.compile(
    r"^(?:yes|yeah|yea|yep|yup|sure|of course|absolutely|definitely|okay|ok|alright|all right"
    r"|right|correct|perfect|great|sounds good)\b"
)
_ACTION = re.compile(
    r"\b(?:book|schedule|set up|setup|arrange|reschedule|cancel (?:my|the|our) (?:meeting|call|appointment)"
    r"|send|email|e-mail|text|transfer|connect|put me through|call (?:me|us) back|sign (?:me|us) up"
    r"|register|pencil|put (?:me|us|it) (?:down|in)|lock (?:it|that) in|block (?:out|off)|reserve"
    r"|add (?:me|us) to|forward|press|dial|(?:do|have|get|grab|hop on) (?:a|the) (?:quick |short |brief )?"
    r"(?:demo|call|meeting|chat))\b"
)
_ACTION_REQUEST = re.compile(
    r"^(?:can you|could you|would you|will you|can we|could we|please|i want(?: you)? to"
    r"|i'?d like(?: you)? to"
    r"|i would like(?: you)? to|let'?s|i need(?: you)? to|go ahead and|just|yes|yeah|sure|ok|okay"
    r"|i want|we want|we'?d like to|we need to|i wanna|how about (?:we|you))\b"
)
_ACTION_IMPERATIVE = re.compile(
    r"^(?:please )?(?:book|schedule|set up|send|email|text|transfer|connect|put me|call me|sign me|register"
    r"|cancel|reschedule|pencil|forward)\b"
)
_MEETING_WORDS = re.compile(r"\b(?:meeting|demo|call|appointment|chat|slot)\b")
_QUESTION_START = re.compile(
    r"^(?:(?:so|and|but|ok|okay|well|um|uh|hmm|also|yeah|yes|no|right|sorry|hi|hello|hey) )*"
    r"(?:what|what'?s|whats|how|how'?s|why|when|where|who|who'?s|which|whose|can|could|do|does|did|is|are"
    r"|was|were|will|would|should|shall|may|might|have|has|any|isn'?t|aren'?t|doesn'?t|don'?t you"
    r"|tell me|explain|walk me through|i'?d like to know|i want to know|i was wondering|i wonder"
    r"|i'?m curious|curious|remind me|give me an idea|help me understand)\b"
)
_QUESTION_ANYWHERE = re.compile(
    r"\b(?:how much|how many|how long|what about|is there|are there|do you (?:have|offer|support|integrate)"
    r"|does it|can it|tell me (?:about|more)|wondering (?:if|whether|about|how|what)|what'?s the|what is the"
    r"|any idea|is it possible)\b"
)
_QUESTION_VERBS = re.compile(r"\b(?:tell|explain|know|describe|walk|say|mean|understand)\b")


_FILLER_LEAD = re.compile(
    r"^(?:(?:uh|um|umm|uhm|er|erm|hmm|hm|mm|oh|ah|well|so|actually|okay so|ok so|look) )+"
)


def _is_short(words: list[str], limit: int) -> bool:
    return len(words) <= limit


def classify_by_rules(text: str) -> IntentResult:
    raw = text.strip()
    norm = _FILLER_LEAD.sub("", normalize_utterance(raw))
    if not norm:
        return IntentResult(Intent.OTHER, confidence=0.0)
    words = norm.split()
    has_qmark = raw.endswith("?")
    lead_polarity: Polarity | None = (
        "no" if _NEGATION_LEAD.match(norm) else "yes" if _YES_LEAD.match(norm) else None
    )

    if _GOODBYE.search(norm) and not (has_qmark and not norm.startswith(("bye", "goodbye", "ok", "okay"))):
        return IntentResult(Intent.GOODBYE, lead_polarity)

    action = bool(_ACTION.search(norm)) and (
        bool(_ACTION_REQUEST.match(norm))
        or bool(_ACTION_IMPERATIVE.match(norm))
        or bool(_MEETING_WORDS.search(norm))
    )
    question = has_qmark or bool(_QUESTION_START.match(norm)) or bool(_QUESTION_ANYWHERE.search(norm))
    # "can you tell me about X" asks for information; "can you send me X" asks for an action.
    informational = question and (
        bool(re.search(r"\b(?:tell|explain|describe)\b", norm))
        or (bool(_QUESTION_VERBS.search(norm)) and not _ACTION_REQUEST.match(norm))
    )
    if action and not informational:
        return IntentResult(Intent.ACTION, lead_polarity)

    hello = _HELLO_START.match(norm)
    if hello:
        rest = norm[hello.end() :].strip()
        if not rest or _HELLO_TAIL.match(rest) or (_is_short(words, 6) and not question):
            return IntentResult(Intent.HELLO, lead_polarity)

    if question:
        return IntentResult(Intent.QUESTION, lead_polarity)

    confirm_words = _is_short(words, 6)
    if confirm_words and lead_polarity == "no":
        return IntentResult(Intent.CONFIRM, "no")
    if confirm_words and lead_polarity == "yes":
        return IntentResult(Intent.CONFIRM, "yes")
    if _is_short(words, 7):
        if _NO.search(norm):
            return IntentResult(Intent.CONFIRM, "no")
        if _YES.search(norm):
            return IntentResult(Intent.CONFIRM, "yes")
    if action:
        return IntentResult(Intent.ACTION, lead_polarity)
    return IntentResult(Intent.OTHER, lead_polarity, confidence=0.5)


# Labelled exemplars for the optional nearest-neighbour fallback (used only when the rules say OTHER).
_EXEMPLARS: dict[Intent, tuple[str, ...]] = {
    Intent.HELLO: ("hello who is this", "hi there", "good morning", "hey how are you"),
    Intent.GOODBYE: ("i have to go now bye", "thanks for calling goodbye", "please don't call again"),
    Intent.CONFIRM: ("yes that works", "no that doesn't work", "sounds good to me", "absolutely not"),
    Intent.QUESTION: ("what does it cost", "how does the product work", "do you integrate with salesforce"),
    Intent.ACTION: ("book a meeting for tuesday", "send me the pricing by email", "transfer me to sales"),
}


_EXEMPLAR_VECTORS: dict[int, tuple[Embedder, Vector]] = {}


class IntentClassifier:
    """Rules first; when they shrug (OTHER) and an embedder is available, the nearest exemplar may decide."""

    def __init__(self, embedder: Embedder | None = None, min_similarity: float = 0.62) -> None:
        self._embedder = embedder
        self._min_similarity = min_similarity
        self._labels: list[Intent] = []
        self._matrix: Vector | None = None

    def _exemplar_matrix(self, embedder: Embedder) -> Vector:
        if self._matrix is None:
            texts: list[str] = []
            for intent, examples in _EXEMPLARS.items():
                texts.extend(examples)
                self._labels.extend([intent] * len(examples))
            # Embedded once per embedder and process, not once per call.
            cached = _EXEMPLAR_VECTORS.get(id(embedder))
            if cached is None or cached[0] is not embedder:
                cached = _EXEMPLAR_VECTORS[id(embedder)] = (embedder, embedder.embed(texts))
            self._matrix = cached[1]
        return self._matrix

    def classify(self, text: str) -> IntentResult:
        result = classify_by_rules(text)
        if result.intent is not Intent.OTHER or self._embedder is None or not text.strip():
            return result
        try:
            matrix = self._exemplar_matrix(self._embedder)
            query = self._embedder.embed([normalize_utterance(text)])[0]
        except Exception:  # an embedder failure must not break the turn; the rules' answer stands
            log.warning("intent embedding failed; the rules' answer stands", exc_info=True)
            return result
        similarities = np.asarray(matrix @ query, dtype=np.float32)
        best = int(np.argmax(similarities))
        score = float(similarities[best])
        if score < self._min_similarity:
            return result
        intent = self._labels[best]
        polarity = result.polarity
        if intent is Intent.CONFIRM and polarity is None:
            polarity = (
                "no" if re.search(r"\b(?:no|not|don'?t|doesn'?t)\b", normalize_utterance(text)) else "yes"
            )
        return IntentResult(intent, polarity, confidence=score)
