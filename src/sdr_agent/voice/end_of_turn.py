"""When has the caller finished? The silence a turn needs before the agent answers, from its words.

A fixed 500 ms of silence was most of the reply time, and still cut callers who pause mid-sentence. The
recogniser's text is usually ready ~200 ms into a pause (the closing decode starts at the first quiet
frame), so the words decide how long to wait:
- a finished sentence or question ("How much is it?") → ``complete_ms`` (answer early);
- words that cannot end a sentence ("um", "and", "so", "the", a trailing preposition, "...") →
  ``incomplete_ms`` (the caller is thinking, not done);
- no final text yet, or nothing telling → ``default_ms``.
The numbers come from the agent's eagerness (conversation_config ``turn.turn_eagerness``: eager, normal,
patient), as ElevenLabs names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from sdr_agent.voice.backchannel import normalise_words
from sdr_agent.voice.caller_turn import CallerTurn


class Eagerness(Enum):
    EAGER = "eager"
    NORMAL = "normal"
    PATIENT = "patient"


class Completeness(Enum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class EndOfTurnTiming:
    complete_ms: float
    default_ms: float
    incomplete_ms: float


TIMINGS = {
    Eagerness.EAGER: EndOfTurnTiming(complete_ms=160.0, default_ms=400.0, incomplete_ms=900.0),
    Eagerness.NORMAL: EndOfTurnTiming(complete_ms=200.0, default_ms=500.0, incomplete_ms=1100.0),
    Eagerness.PATIENT: EndOfTurnTiming(complete_ms=350.0, default_ms=700.0, incomplete_ms=1500.0),
}

# Words a sentence does not end on: fillers, conjunctions, articles, prepositions, possessives, auxiliaries.
_CONTINUATION_WORDS = """
um uh er erm ah hmm like and but or so because cause if then than that which who whose where when while
although though unless until whether the a an this these those my our your their his her its to of for with
about in on at from by into onto over under between through during without within across after before like
as is are was were be been am do does did have has had will would can could should shall may might must
i we you they he she it's i'm we're you're they're i'd we'd i'll we'll what's there's let's just really
very more most some any each every also plus kind sort gonna wanna going want need think mean guess
"""
CONTINUATIONS = frozenset(_CONTINUATION_WORDS.split())
_FINISHED = re.compile(r"[.?!][\"')\]]*\s*$")
_TRAILING_OFF = re.compile(r"(\.\.\.|…|,|-|—)\s*$")


def completeness(text: str) -> Completeness:
    """What the words say about whether the caller has finished."""
    words = normalise_words(text)
    if not words:
        return Completeness.UNKNOWN
    if words[-1] in CONTINUATIONS or _TRAILING_OFF.search(text):
        return Completeness.INCOMPLETE
    if _FINISHED.search(text):
        return Completeness.COMPLETE
    return Completeness.UNKNOWN


def eagerness_of(value: object) -> Eagerness:
    try:
        return Eagerness(str(value).strip().lower())
    except ValueError:
        return Eagerness.NORMAL


def required_silence_ms(turn: CallerTurn, timing: EndOfTurnTiming) -> float:
    """How much silence after the caller's last voice ends this turn, given what is known of its words."""
    spoken = [u for u in turn.utterances if not u.discarded]
    if not spoken:
        return timing.default_ms
    last = spoken[-1]
    state = completeness(last.text)
    if state is Completeness.INCOMPLETE:
        return timing.incomplete_ms  # a partial is enough to know the caller is mid-sentence
    if state is Completeness.COMPLETE and all(u.final is not None for u in spoken):
        return timing.complete_ms  # only final text may end a turn early
    return timing.default_ms


_QUESTION_WORDS = "how what why when where who which whose can could would will is are am do does did should"
_QUESTION_START = frozenset(_QUESTION_WORDS.split())


def is_question(text: str) -> bool:
    """The caller asked something (a question mark, or a sentence that starts like a question)."""
    words = normalise_words(text)
    return bool(words) and (text.rstrip().endswith("?") or words[0] in _QUESTION_START)
