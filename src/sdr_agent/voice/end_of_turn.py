"""When has the caller finished? The silence a turn needs before the agent answers, from its words.

A fixed 500 ms of silence was most of the reply time, and still cut callers who pause mid-sentence. The
recogniser's text is usually ready ~200 ms into a pause (the closing decode starts at the first quiet
frame), so the words decide how long to wait:
- a finished sentence or question ("How much is it?") → ``complete_ms`` (answer early);
- words that cannot end a sentence ("um", "and", "so", "the", a trailing preposition, "...") →
  ``incomplete_ms`` (the caller is thinking, not done);
- words that only take the floor ("Wait, wait.", "Hold on.", "Sorry,") → ``incomplete_ms``: the caller
  stopped the agent and the question comes after a breath; answering those words alone talks over it;
- no final text yet, or nothing telling → ``default_ms``.
The numbers come from the agent's eagerness (conversation_config ``turn.turn_eagerness``: eager, normal,
patient), as ElevenLabs names it.

An acoustic model (Smart Turn v3, ``engines/local/smart_turn.py``) also hears how the audio ends. On
phone-path synthetic speech with 200 ms of trailing silence it is unreliable as a "finished" signal (it
called 52-67 % of mid-phrase fragments complete at 0.7-0.9) but its low end is sharp: p < 0.1 on 2 % of
finished sentences and 19 % of unfinished fragments. So it is used where that holds:
- p below ``unfinished_p`` → wait ``doubtful_ms`` whatever the words say (Whisper garbles a fragment
  into text that ends like a sentence: "I was wondering about the" → "I want to make your mouth, man.");
- finished-looking words wait for the model's verdict (at most ``PROBE_WAIT_MS`` more) before answering.
A high p never shortens a wait: on the latency bench it shortened a stale partial's wait ("Could you send me
the..." said with a 500 ms pause was cut because Whisper's final came late) and answered fragments with no
punctuation ("I'd like to know"), while the 1.1 s waits it was meant to remove came from word rules ("Tuesday
at 3." read as ending on "at", "cause" as "because"), now fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from sdr_agent.voice.backchannel import normalise_words
from sdr_agent.voice.caller_turn import AcousticGuess, CallerTurn


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
    # Below this acoustic probability that the turn is complete, the caller is taken to be mid-sentence, and
    # the turn waits ``doubtful_ms``: the model is weaker evidence than the words (on the bench it also said
    # p < 0.1 on a few finished questions), so it lengthens the wait less than an unfinished sentence does.
    unfinished_p: float = 0.1
    doubtful_ms: float = 800.0


TIMINGS = {
    Eagerness.EAGER: EndOfTurnTiming(complete_ms=160.0, default_ms=400.0, incomplete_ms=900.0,
                                     unfinished_p=0.05, doubtful_ms=650.0),
    Eagerness.NORMAL: EndOfTurnTiming(complete_ms=200.0, default_ms=500.0, incomplete_ms=1100.0,
                                      unfinished_p=0.1, doubtful_ms=800.0),
    Eagerness.PATIENT: EndOfTurnTiming(complete_ms=350.0, default_ms=700.0, incomplete_ms=1500.0,
                                       unfinished_p=0.2, doubtful_ms=1100.0),
}

# Words a sentence does not end on: fillers, conjunctions, articles, prepositions, possessives, auxiliaries.
_CONTINUATION_WORDS = """
um uh er erm ah hmm like and but or so because if then than that which who whose where when while
although though unless until whether the a an this these those my our your their his her its to of for with
about in on at from by into onto over under between through during without within across after before like
as is are was were be been am do does did have has had will would can could should shall may might must
i we you they he she it's i'm we're you're they're i'd we'd i'll we'll what's there's let's just really
very more most some any each every also plus kind sort gonna wanna going want need think mean guess
"""
CONTINUATIONS = frozenset(_CONTINUATION_WORDS.split())
# Continuation words that also end everyday answers once the recogniser closed the sentence: "No, not
# really.", "I think so.", "Okay then.", "Tell me more.", "I guess.", "How's it going?".
_SOFT_WORDS = "really so then more like going think guess mean"
SOFT_CONTINUATIONS = frozenset(_SOFT_WORDS.split())
# "Yes, we do." / "I think it is." / "No, I can't say we have.": a subject and an auxiliary close an answer.
_SUBJECT_WORDS = "i we you they he she it that there this"
_SUBJECTS = frozenset(_SUBJECT_WORDS.split())
_AUXILIARY_WORDS = "is are was were am do does did have has had will would can could should"
_AUXILIARIES = frozenset(_AUXILIARY_WORDS.split())
_STRANDING_WH = frozenset(["who", "whom", "what", "which", "where"])
_PREPOSITIONS = frozenset(["with", "about", "for", "from", "to", "of", "at", "on", "in", "into", "by"])
_DISCOURSE_OPENERS = frozenset(["and", "so", "but", "okay", "ok", "well", "sorry"])
_CONTRACTED = {"what's": ("what", "is"), "who's": ("who", "is"), "where's": ("where", "is"),
               "which's": ("which", "is")}
# Said to stop the agent and take the floor before the real words ("Wait, wait. Is there a free trial?").
_FLOOR_TAKING_WORDS = "wait hold hang on sorry excuse me one sec second minute moment just a stop listen look"
FLOOR_TAKING = frozenset(_FLOOR_TAKING_WORDS.split())
_FINISHED = re.compile(r"[.?!][\"')\]]*\s*$")
_TRAILING_OFF = re.compile(r"(\.\.\.|…|,|-|—)\s*$")
_TOKEN = re.compile(r"[a-z0-9']+")
PROBE_WAIT_MS = 150.0  # the longest a finished-looking turn waits for the acoustic verdict


def _last_token(text: str) -> str:
    """The last word or number ("Tuesday at 3." ends on "3", not on "at")."""
    tokens = _TOKEN.findall(text.lower().replace("’", "'"))
    return tokens[-1] if tokens else ""


def completeness(text: str) -> Completeness:
    """What the words say about whether the caller has finished."""
    last = _last_token(text)
    if not last:
        return Completeness.UNKNOWN
    # A question mark does not override a trailing "about": Whisper writes a fragment cut by a pause as
    # "And what about?".
    if _TRAILING_OFF.search(text):
        return Completeness.INCOMPLETE
    if last in CONTINUATIONS and not (
        _FINISHED.search(text) and (_closes_an_answer(text, last) or _strands_its_preposition(text))
    ):
        return Completeness.INCOMPLETE
    if _only_takes_the_floor(text):
        return Completeness.INCOMPLETE
    if _FINISHED.search(text):
        return Completeness.COMPLETE
    return Completeness.UNKNOWN


def _closes_an_answer(text: str, last: str) -> bool:
    """A continuation word that, after a sentence end, closes an answer ("Not really.", "Yes, we do.")."""
    if last in SOFT_CONTINUATIONS:
        return True
    words = normalise_words(text)
    return last in _AUXILIARIES and len(words) >= 2 and words[-2] in _SUBJECTS


def _strands_its_preposition(text: str) -> bool:
    """"Who am I speaking with?", "What is this about?", "Where are you calling from?": a question whose
    wh-word is the preposition's object ends on the preposition. Only who/what/which/where do that, and only
    with an auxiliary and a subject before it — "And what about?" and "What happens to?" are still cut short.
    """
    if not text.rstrip().endswith("?"):
        return False
    words = [part for word in normalise_words(text) for part in _CONTRACTED.get(word, (word,))]
    while words and words[0] in _DISCOURSE_OPENERS:
        words = words[1:]
    return (len(words) >= 4 and words[0] in _STRANDING_WH and words[1] in _AUXILIARIES
            and words[-1] in _PREPOSITIONS)


def _only_takes_the_floor(text: str) -> bool:
    """"Wait, wait." / "Hold on." — but "Sorry?" asks the agent to say it again, and is answered."""
    words = normalise_words(text)
    return bool(words) and set(words) <= FLOOR_TAKING and not text.rstrip().endswith("?")


def eagerness_of(value: object) -> Eagerness:
    try:
        return Eagerness(str(value).strip().lower())
    except ValueError:
        return Eagerness.NORMAL


def required_silence_ms(turn: CallerTurn, timing: EndOfTurnTiming) -> float:
    """How much silence after the caller's last voice ends this turn, given its words and, when an acoustic
    model has heard the pause (``turn.acoustic``), how the audio ends."""
    spoken = [u for u in turn.utterances if not u.discarded]
    if not spoken:
        return timing.default_ms
    state = completeness(spoken[-1].text)
    finals = all(u.final is not None for u in spoken)
    guess = turn.current_guess()
    p = guess.probability if guess is not None else None
    if state is Completeness.INCOMPLETE:
        return timing.incomplete_ms  # a partial is enough to know the caller is mid-sentence
    if p is not None and p < timing.unfinished_p:
        return timing.doubtful_ms  # words that look finished, audio that does not (a garbled fragment)
    if state is Completeness.COMPLETE and finals:
        if _pending(guess):
            # Its verdict comes 60-115 ms after the probe (at 150 ms of silence), usually before Whisper's
            # final does; on a loaded machine it is not worth more than PROBE_WAIT_MS of extra silence.
            return min(timing.default_ms, timing.complete_ms + PROBE_WAIT_MS)
        return timing.complete_ms  # only final text may end a turn early
    return timing.default_ms


def _pending(guess: AcousticGuess | None) -> bool:
    return guess is not None and not guess.done


_QUESTION_WORDS = "how what why when where who which whose can could would will is are am do does did should"
_QUESTION_START = frozenset(_QUESTION_WORDS.split())


def is_question(text: str) -> bool:
    """The caller asked something (a question mark, or a sentence that starts like a question)."""
    words = normalise_words(text)
    return bool(words) and (text.rstrip().endswith("?") or words[0] in _QUESTION_START)
