"""The offline default ``LanguageModel``: answers only with sentences quoted from the retrieved knowledge
base and the agent's SDR playbook (qualify, handle objections, propose a meeting, confirm a slot).

It never invents a fact, price or date: its own lines contain no digits, knowledge sentences are quoted
verbatim, and a slot is only ever passed on (as a book_meeting tool call) in the caller's own words. When
the knowledge base has no answer it says it will follow up. Structured state comes from
``request.hints`` (filled by the dialogue layer): intent, polarity, phase, objection, slot, next question.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdr_agent.engines.base import (
    ContextPassage,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)

WORDS_PER_DELTA = 4
MAX_ANSWER_WORDS = 50
MIN_FALLBACK_SCORE = 0.5  # retrieval cosine above which the top passage answers even without shared words
# Share of the question's (IDF-weighted) terms the passages must know, so "do you support Klingon" is not
# answered with the support-hours sentence.
MIN_COVERAGE = 0.5

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|\n+")
_HAS_FIGURE = re.compile(r"\d|[$€£%]")
_STOPWORD_TEXT = (
    "a an the and or but if of to in on at by for with about from as is are was were be been being do "
    "does did have has had i you we they he she it its it's my your our their me us them this that these "
    "those what which who whom whose when where why how can could would should will shall may might must "
    "there here so than then too very just also any some all not no yes please tell know want like get "
    "got need really much many more most thing things okay ok um uh hi hello hey well say said what's that's "
    "there's i'm we're you're don't doesn't isn't aren't can't i'd we'd reach find make go going work works "
    "working use using used offer offers provide provides handle include includes come comes able thanks "
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "cost price pric pricing expensive cheap fee charge pay plan plans subscription budget dollar afford "
        "rate",
        "integrate integration connect sync compatible plug crm salesforce hubspot api",
        "secure security compliance compliant gdpr soc encrypt encryption privacy data protect",
        "trial free try pilot test",
        "support help service hour hours assist contact",
        "onboard onboarding setup set implement implementation start started install launch rollout",
        "contract cancel commitment annual monthly term terms",
        "user users seat seats license licenses",
        "language languages spanish french german multilingual",
        "store stored host hosted hosting server region cloud",
        "customer customers client clients company companies use uses",
    )
)
_PRICE_WORDS = frozenset(
    {
        "cost",
        "price",
        "pric",
        "pricing",
        "expensive",
        "fee",
        "charge",
        "pay",
        "plan",
        "subscription",
        "budget",
        "afford",
        "rate",
        "much",
    }
)


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ied", "ies", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> list[str]:
    return [_stem(word) for word in _TOKEN.findall(text.lower()) if word not in _STOPWORDS]


def _expansions(term: str) -> set[str]:
    related: set[str] = set()
    for group in _SYNONYMS:
        if term in group or any(_stem(word) == term for word in group):
            related |= {_stem(word) for word in group}
    related.discard(term)
    return related


def split_sentences(text: str) -> list[str]:
    sentences = []
    for piece in _SENTENCE_SPLIT.split(text):
        sentence = " ".join(piece.split()).lstrip("#*->• ").strip()
        if len(sentence.split()) >= 3:
            sentences.append(sentence)
    return sentences


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    passage: int
    position: int
    score: float


def best_sentences(question: str, passages: Sequence[ContextPassage], max_sentences: int = 2) -> list[str]:
    """Sentences from ``passages`` that best answer ``question`` (lexical overlap with light synonyms and
    IDF weights); [] when nothing in them relates to the question."""
    terms = set(content_terms(question))
    if not passages:
        return []
    pricing = bool(terms & _PRICE_WORDS) or "how much" in question.lower()
    pool = [
        (p_index, s_index, sentence)
        for p_index, passage in enumerate(passages)
        for s_index, sentence in enumerate(split_sentences(passage.text))
    ]
    if not pool:
        return []
    sentence_terms = [set(content_terms(sentence)) for _, _, sentence in pool]
    frequency: dict[str, int] = {}
    for found in sentence_terms:
        for term in found:
            frequency[term] = frequency.get(term, 0) + 1
    expansions = {term: _expansions(term) for term in terms}
    known = set().union(*sentence_terms)
    weights = {term: math.log(1.0 + len(pool) / (1.0 + frequency.get(term, 0))) for term in terms}
    covered = sum(weight for term, weight in weights.items() if term in known or expansions[term] & known)
    if terms and covered < MIN_COVERAGE * sum(weights.values()):
        return []
    candidates: list[_Candidate] = []
    for (p_index, s_index, sentence), found in zip(pool, sentence_terms, strict=True):
        score = 0.0
        for term in terms:
            idf = math.log(1.0 + len(pool) / (1.0 + frequency.get(term, 0)))
            if term in found:
                score += idf
            elif expansions[term] & found:
                score += 0.6 * max(
                    math.log(1.0 + len(pool) / (1.0 + frequency.get(t, 0))) for t in expansions[term] & found
                )
        if score > 0 and pricing and _HAS_FIGURE.search(sentence):
            score += 0.8
        if score > 0:
            score += 0.3 / (1 + p_index) + 0.1 / (1 + s_index)
            candidates.append(_Candidate(sentence, p_index, s_index, score))
    if not candidates:
        top = passages[0]
        sentences = split_sentences(top.text)
        return sentences[:1] if top.score >= MIN_FALLBACK_SCORE and sentences else []
    candidates.sort(key=lambda c: c.score, reverse=True)
    best = candidates[0]
    chosen = [best]
    for other in candidates[1:]:
        if len(chosen) >= max_sentences:
            break
        words = sum(len(c.text.split()) for c in chosen) + len(other.text.split())
        if other.score >= 0.6 * best.score and words <= MAX_ANSWER_WORDS:
            chosen.append(other)
    chosen.sort(key=lambda c: (c.passage, c.position))
    return [c.text for c in chosen]


def _safe_name(value: Any) -> str:
    """A caller name fit to say: letters only, so no number can slip in through it."""
    if not isinstance(value, str):
        return ""
    return " ".join(re.sub(r"[^A-Za-z' -]", "", value).split()[:2])


def _without_digits(text: Any) -> str:
    return text if isinstance(text, str) and not re.search(r"\d", text) else ""


class _Reply:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.calls: list[ToolCall] = []

    def say(self, *texts: str) -> None:
        self.parts.extend(text.strip() for text in texts if text and text.strip())

    def call(self, name: str, arguments: dict[str, Any]) -> None:
        self.calls.append(ToolCall(f"call_{uuid.uuid4().hex[:16]}", name, arguments))

    @property
    def text(self) -> str:
        return " ".join(self.parts)


class GroundedResponder:
    """``LanguageModel`` that composes short spoken answers from retrieved sentences and the playbook."""

    name = "grounded"

    def __init__(self, max_sentences: int = 2) -> None:
        self.max_sentences = max_sentences

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        reply = self.compose(request)
        words = reply.text.split()
        for start in range(0, len(words), WORDS_PER_DELTA):
            chunk = " ".join(words[start : start + WORDS_PER_DELTA])
            yield TextDelta(chunk if start == 0 else " " + chunk)
            await asyncio.sleep(0)  # a cancelling consumer gets in between word groups
        for call in reply.calls:
            yield ToolCallDelta(call)
        yield LLMFinished("tool_calls" if reply.calls else "stop")

    # ------------------------------------------------------------ composition
    def compose(self, request: LLMRequest) -> _Reply:
        hints: Mapping[str, Any] = request.hints
        lines: Mapping[str, Any] = hints.get("playbook") or {}
        tools = {spec.name for spec in request.tools}
        reply = _Reply()
        last = request.messages[-1] if request.messages else None
        user_text = str(
            hints.get("user_text")
            or next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        )
        if last is not None and last.role == "tool" and not hints.get("tool_error"):
            reply.say(str(hints.get("tool_result") or "All done."))
            return reply
        if hints.get("tool_error"):
            reply.say(
                self._line(lines, "ask_time", "What day and time would work best for you?")
                if "when" in str(hints["tool_error"])
                else "Sorry, could you say that once more?"
            )
            return reply
        intent = str(hints.get("intent") or "OTHER")
        if intent == "GOODBYE":
            reply.say(self._line(lines, "goodbye", "Thanks for your time. Goodbye!"))
            if "end_call" in tools:
                reply.call("end_call", {"reason": "caller said goodbye"})
            return reply
        if self._meeting_step(hints, tools, lines, reply):
            return reply
        if hints.get("objection") and self._objection(hints, request.context, user_text, lines, tools, reply):
            return reply
        self._answer(intent, hints, request.context, user_text, lines, reply)
        return reply

    @staticmethod
    def _line(lines: Mapping[str, Any], key: str, default: str) -> str:
        return _without_digits(lines.get(key)) or default

    def _meeting_step(
        self, hints: Mapping[str, Any], tools: set[str], lines: Mapping[str, Any], reply: _Reply
    ) -> bool:
        if "book_meeting" not in tools or hints.get("meeting_booked"):
            return False
        slot = hints.get("slot") or None
        intent, polarity = hints.get("intent"), hints.get("polarity")
        agreed = hints.get("meeting_proposed") and polarity == "yes"
        asked = hints.get("wants_meeting") and intent in ("ACTION", "CONFIRM", "OTHER")
        if slot and slot.get("complete") and (agreed or asked or hints.get("meeting_proposed")):
            arguments: dict[str, Any] = {"when": str(slot["text"])}
            if slot.get("timezone"):
                arguments["timezone"] = str(slot["timezone"])
            if _safe_name(hints.get("caller_name")):
                arguments["name"] = _safe_name(hints.get("caller_name"))
            if hints.get("caller_email"):
                arguments["email"] = str(hints["caller_email"])
            reply.say("Great.")
            reply.call("book_meeting", arguments)
            return True
        if agreed or asked or (slot and hints.get("meeting_proposed")):
            reply.say(
                "Great." if polarity != "no" else "",
                "What time works best for you that day?"
                if slot and slot.get("has_day")
                else self._line(lines, "ask_time", "What day and time would work best for you?"),
            )
            return True
        return False

    def _objection(
        self,
        hints: Mapping[str, Any],
        context: Sequence[ContextPassage],
        user_text: str,
        lines: Mapping[str, Any],
        tools: set[str],
        reply: _Reply,
    ) -> bool:
        kind = hints.get("objection")
        count = int(hints.get("objection_count") or 1)
        pitch = self._line(lines, "meeting_pitch", "Would you be open to a short call to learn more?")
        if kind == "not_interested":
            if count >= 2:
                reply.say("No problem at all. Thanks for your time, and have a great day.")
                if "end_call" in tools:
                    reply.call("end_call", {"reason": "caller not interested"})
            else:
                reply.say(
                    "I understand, and I appreciate you being direct.",
                    "Would a short call later this week be worth it, just to see whether it fits?",
                )
            return True
        if kind == "bad_timing":
            reply.say(
                "I completely understand.",
                "Would it be easier to pick a time later this week for a short call?",
            )
            return True
        if kind == "send_info":
            reply.say(
                "Happy to." if hints.get("caller_email") else "Happy to. What's the best email to send it to?"
            )
            return True
        if kind == "authority":
            reply.say("That's helpful, thanks.", "Would it make sense to include them in a short call?")
            return True
        answer = best_sentences(user_text, context, self.max_sentences)
        if answer:
            reply.say("That's fair.", *answer, pitch if hints.get("can_book") else "")
            return True
        reply.say("That makes sense.", pitch if hints.get("can_book") else "")
        return True

    def _next_step(self, hints: Mapping[str, Any], lines: Mapping[str, Any]) -> str:
        question = _without_digits(hints.get("next_question"))
        if question:
            return question
        if (
            hints.get("can_book")
            and not hints.get("meeting_booked")
            and not hints.get("meeting_proposed")
            and hints.get("phase") == "ACTIVE"
        ):
            return self._line(lines, "meeting_pitch", "Would you be open to a short call to go over this?")
        return "Is there anything else you'd like to know?"

    def _answer(
        self,
        intent: str,
        hints: Mapping[str, Any],
        context: Sequence[ContextPassage],
        user_text: str,
        lines: Mapping[str, Any],
        reply: _Reply,
    ) -> None:
        name = _safe_name(hints.get("caller_name"))
        if intent == "QUESTION":
            answer = best_sentences(user_text, context, self.max_sentences)
            if answer:
                reply.say(*answer, self._next_step(hints, lines))
            else:
                reply.say(
                    self._line(
                        lines,
                        "follow_up",
                        "That's a good question. I don't have that detail in "
                        "front of me, so I'll follow up with the answer after "
                        "our call.",
                    ),
                    self._next_step(hints, lines),
                )
            return
        if intent == "HELLO":
            greeting = f"Hi {name}, thanks for taking my call." if name else "Hi, thanks for taking my call."
            reply.say(greeting, _without_digits(hints.get("next_question")) or "How can I help you today?")
            return
        if intent == "CONFIRM":
            reply.say(
                "Great." if hints.get("polarity") == "yes" else "Okay, no problem.",
                self._next_step(hints, lines),
            )
            return
        answer = best_sentences(user_text, context, 1) if len(user_text.split()) >= 5 else []
        opener = "Got it, thanks." if intent != "ACTION" else "Sure."
        reply.say(opener, *answer, self._next_step(hints, lines))
