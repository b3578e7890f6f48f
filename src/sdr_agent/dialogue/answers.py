"""Finds the knowledge-base sentences that answer a caller's question, to be quoted verbatim.

Matching is lexical with Snowball stems ("employees" and "employee" are one term), a few sales synonyms and
IDF weights, plus — when an embedder is given — sentence-embedding similarity, so a question with extra words
("so roughly what would something like that cost us") still finds its sentence. Numbers are quantities,
not words: "50" in the question never matches "all 50 states"; a number counts only next to the same unit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import snowballstemmer  # type: ignore[import-untyped]

from sdr_agent.engines.base import ContextPassage, Embedder

MAX_ANSWER_WORDS = 50
MIN_COVERAGE = 0.5  # share of the question's IDF weight the passages must know (lexically)
MIN_SEMANTIC = 0.5  # ... or the best sentence's cosine similarity to the question
MIN_SEMANTIC_RARE = 0.42  # ... or a little less when a rare term of the question is in the passages
SEMANTIC_WEIGHT = 2.5
MIN_FALLBACK_SCORE = 0.5

_STEMMER = snowballstemmer.stemmer("english")
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*")
_NUMBER_UNIT = re.compile(r"(\d+(?:[.,]\d+)*)\s*(?:[a-z]+\s)?([a-z]{3,})")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|\n+")
_HAS_FIGURE = re.compile(r"\d|[$€£%]")
_PER_UNIT = re.compile(r"\bper\b|/|\beach\b|\ba (?:month|year|seat|user)\b")
_STOPWORD_TEXT = (
    "a an the and or but if of to in on at by for with about from as is are was were be been being do "
    "does did have has had i you we they he she it its it's my your our their me us them this that these "
    "those what which who whom whose when where why how can could would should will shall may might must "
    "there here so than then too very just also any some all not no yes please tell know want like get "
    "got need really much many more most thing things okay ok um uh hi hello hey well say said what's that's "
    "there's i'm we're you're don't doesn't isn't aren't can't i'd we'd reach find make go going work works "
    "working use using used offer offers provide provides handle include includes come comes able thanks "
    "roughly something kind sort guess wondering curious quick question ask asking actually basically maybe "
    "us our folks guys would've look looking idea probably anyway right now exactly again one ballpark "
    "end up two three four five six seven eight nine ten"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SYNONYM_TEXT = (
    "cost price pricing expensive cheap fee fees charge pay plan plans subscription budget dollar afford "
    "rate worth",
    "integrate integration connect sync compatible plug crm salesforce hubspot api",
    "secure security compliance compliant gdpr soc encrypt encryption privacy data protect hipaa",
    "trial free try pilot test",
    "support help service hour hours assist contact problem problems issue issues trouble anybody someone",
    "weekend weekends weekday weekdays saturday sunday monday friday night nights available availability",
    "onboard onboarding setup set implement implementation start started install launch rollout migrate",
    "contract cancel commitment annual monthly term terms sign year years yearly",
    "user users seat seats license licenses employee employees staff people headcount member members",
    "language languages spanish french german multilingual",
    "store stored host hosted hosting server region cloud",
    "customer customers client clients company companies",
    "long time take takes fast quickly week weeks day days hour hours minute minutes",
    "discount discounts deal deals promotion offer",
    "save saving savings cut reduce lower cost costs",
    "electricity energy power charging kwh",
    "deliver delivery delivered ship shipping shipped arrive arrives arrival show shows",
    "safe safety risk harmful strength concentration",
)


def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def _is_number(token: str) -> bool:
    return token[0].isdigit()


def content_terms(text: str) -> list[str]:
    """Stems of the words that carry meaning; numbers are left out (see ``quantities``)."""
    return [
        stem(word)
        for word in _TOKEN.findall(text.lower())
        if word not in _STOPWORDS and not _is_number(word) and len(word) > 1
    ]


def quantities(text: str) -> set[tuple[str, str]]:
    """(number, unit stem) pairs: "50 employees" → {("50", "employe")}."""
    return {
        (match.group(1).replace(",", ""), stem(match.group(2)))
        for match in _NUMBER_UNIT.finditer(text.lower())
    }


_SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(stem(w) for w in group.split()) for group in _SYNONYM_TEXT
)
_PRICE_TERMS = _SYNONYMS[0]


def generic_question(text: str) -> bool:
    """Only everyday sales words ("who pays for that?"): it needs the question before it to mean anything;
    "does it work with QuickBooks?" names its own subject."""
    words = text.split()
    if any(word[:1].isupper() and word.lower().strip("?,.!") not in _STOPWORDS for word in words[1:]):
        return False  # a name ("Salesforce") is a subject of its own
    return all(any(term in group for group in _SYNONYMS) for term in content_terms(text))


_BOUND = re.compile(
    r"\b(under|less than|fewer than|up to|below|over|more than|above|at least)\s+(\d+(?:,\d{3})*)\s+([a-z]+)"
)


def _same_unit(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _SYNONYMS)


def _within_bound(asked: set[tuple[str, str]], sentence: str) -> bool:
    """ "12 people" falls under "companies under 25 users": the number is inside the sentence's bound."""
    for match in _BOUND.finditer(sentence.lower()):
        word, limit, unit = match.group(1), float(match.group(2).replace(",", "")), stem(match.group(3))
        below = word in ("under", "less than", "fewer than", "up to", "below")
        for number, asked_unit in asked:
            try:
                value = float(number)
            except ValueError:
                continue
            if _same_unit(asked_unit, unit) and (value <= limit if below else value >= limit):
                return True
    return False


def _expansions(term: str) -> frozenset[str]:
    related: set[str] = set()
    for group in _SYNONYMS:
        if term in group:
            related |= group
    related.discard(term)
    return frozenset(related)


def split_sentences(text: str) -> list[str]:
    return [sentence for sentence, _ in sentences_with_headings(text)]


def sentences_with_headings(text: str) -> list[tuple[str, str]]:
    """(sentence, the heading it sits under): "Nestly runs credit checks" sits under "Screening", which is
    what a caller asks about ("do you do tenant screening?"). Headings are matched, never spoken."""
    out: list[tuple[str, str]] = []
    heading = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#") or len(stripped.split()) < 3:
            heading = stripped.lstrip("#*-• ").strip()
            continue
        for piece in _SENTENCE_SPLIT.split(stripped):
            sentence = " ".join(piece.split()).lstrip("#*->• ").strip()
            if len(sentence.split()) >= 3:
                out.append((sentence, heading))
    return out


# Sentence vectors by (embedder id, text): knowledge sentences recur across turns and calls.
_VECTORS: dict[tuple[int, str], np.ndarray] = {}
_MAX_VECTORS = 20_000


def _vectors(embedder: Embedder, texts: Sequence[str]) -> list[np.ndarray]:
    key = id(embedder)
    missing = list(dict.fromkeys(t for t in texts if (key, t) not in _VECTORS))
    if missing:
        if len(_VECTORS) > _MAX_VECTORS:
            _VECTORS.clear()
        for text, vector in zip(missing, embedder.embed(missing), strict=True):
            _VECTORS[(key, text)] = np.asarray(vector, dtype=np.float32)
    return [_VECTORS[(key, t)] for t in texts]


def _similarities(embedder: Embedder | None, question: str, sentences: Sequence[str]) -> list[float]:
    if embedder is None or not sentences:
        return [0.0] * len(sentences)
    try:
        query, *rows = _vectors(embedder, [question, *sentences])
    except Exception:  # an embedder failure leaves the lexical match to decide
        return [0.0] * len(sentences)
    return [float(row @ query) for row in rows]


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    passage: int
    position: int
    score: float


_PRICE_PHRASE = re.compile(
    r"\bhow much\b"
    r"|\bwhat(?:'s| does| would| will| is| do) (?:it|that|this|they) (?:run|come to|set (?:me|us) back)"
    r"|\bwhat(?:'s| is| are) the (?:damage|numbers)\b",
    re.IGNORECASE,
)


def asks_price(question: str) -> bool:
    return bool(set(content_terms(question)) & _PRICE_TERMS) or bool(_PRICE_PHRASE.search(question))


def best_sentences(
    question: str,
    passages: Sequence[ContextPassage],
    max_sentences: int = 2,
    embedder: Embedder | None = None,
    by_score: bool = False,
) -> list[str]:
    """Sentences from ``passages`` that best answer ``question``, in document order (best first with
    ``by_score``); [] when nothing in them answers it (the caller then hears a follow-up promise, never a near
    miss)."""
    if not passages:
        return []
    terms = set(content_terms(question))
    asked_quantities = quantities(question)
    pricing = asks_price(question)
    if pricing and not terms & _PRICE_TERMS:
        terms.add(stem("cost"))  # "what's that run for 30 units?" asks for the price
    pool = [
        (p_index, s_index, sentence, heading)
        for p_index, passage in enumerate(passages)
        for s_index, (sentence, heading) in enumerate(sentences_with_headings(passage.text))
    ]
    if not pool:
        return []
    sentence_terms = [set(content_terms(f"{sentence} {heading}")) for _, _, sentence, heading in pool]
    frequency: dict[str, int] = {}
    for found in sentence_terms:
        for term in found:
            frequency[term] = frequency.get(term, 0) + 1

    def idf(term: str) -> float:
        return math.log(1.0 + len(pool) / (1.0 + frequency.get(term, 0)))

    expansions = {term: _expansions(term) for term in terms}
    known = set().union(*sentence_terms)
    weights = {term: idf(term) for term in terms}
    covered = sum(weight for term, weight in weights.items() if term in known or expansions[term] & known)
    matched = sum(1 for term in terms if term in known or expansions[term] & known)
    confident = bool(terms) and matched >= 1 and covered >= MIN_COVERAGE * sum(weights.values())
    # Embeddings only where the words leave doubt: a sentence vector costs more than the whole lexical pass,
    # and a reply that starts late is heard as a pause.
    texts = [sentence for _, _, sentence, _ in pool]
    similarities = [0.0] * len(pool) if confident else _similarities(embedder, question, texts)
    # Extra words ("so roughly what would that end up costing us") lower the share, not the matches.
    lexical_ok = not terms or confident or matched >= 2
    rare_match = any(term in known and frequency.get(term, 0) <= 2 for term in terms)
    semantic_ok = max(similarities) >= (MIN_SEMANTIC_RARE if rare_match else MIN_SEMANTIC)
    if not lexical_ok and not semantic_ok:
        return []
    candidates: list[_Candidate] = []
    for (p_index, s_index, sentence, _), found, similarity in zip(
        pool, sentence_terms, similarities, strict=True
    ):
        score = 0.0
        for term in terms:
            if term in found:
                score += idf(term)
            elif expansions[term] & found:
                score += 0.6 * max(idf(t) for t in expansions[term] & found)
        if asked_quantities and (
            asked_quantities & quantities(sentence) or _within_bound(asked_quantities, sentence)
        ):
            score += 1.0
        if similarity >= 0.3:
            score += SEMANTIC_WEIGHT * (similarity - 0.3)
        if score > 0 and pricing and _HAS_FIGURE.search(sentence):
            score += 0.8 + (0.4 if _PER_UNIT.search(sentence.lower()) else 0.0)
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
    if not by_score:
        # The sentence that answers leads; what supports it follows in document order ("How much is the Team
        # plan?" must not open with the Starter plan's price just because it comes first in the document).
        chosen = [best, *sorted(chosen[1:], key=lambda c: (c.passage, c.position))]
    return [c.text for c in chosen]
