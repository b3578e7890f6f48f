"""Knowledge lookup for one call's turns: which passages to retrieve for a caller turn, and the question a
short follow-up ("who pays for that?") really asks — itself together with the question before it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from sdr_agent.dialogue.answers import content_terms
from sdr_agent.dialogue.deps import DialogueDeps
from sdr_agent.dialogue.intents import Intent
from sdr_agent.dialogue.lexicon import Objection
from sdr_agent.dialogue.turn_analysis import CallerTurn
from sdr_agent.engines.base import ContextPassage

log = logging.getLogger(__name__)
_POINTS_BACK = re.compile(r"\b(?:that|it|this|those|them|they|these)\b", re.IGNORECASE)
_FOLLOW_UP_WORDS = 7
_PREFETCHED = 4  # speculative queries kept (one per pause the caller made)


class KnowledgeLookup:
    def __init__(self, deps: DialogueDeps, document_ids: Sequence[str]) -> None:
        self._deps = deps
        self._documents = tuple(document_ids)
        self._last_question = ""
        self._prefetched: dict[str, asyncio.Task[list[ContextPassage]]] = {}

    def prefetch(self, text: str) -> None:
        """Start the knowledge query for words a caller turn may be about to end with (speculative: a read,
        nothing remembered). ``retrieve`` uses the result when the turn does end with them."""
        query = " ".join(text.split())
        if not self._documents or not query or query in self._prefetched:
            return
        task = asyncio.ensure_future(self._deps.retrieve(query, self._documents, self._deps.retrieval_k))
        task.add_done_callback(_quiet)
        self._prefetched[query] = task
        while len(self._prefetched) > _PREFETCHED:
            self._prefetched.pop(next(iter(self._prefetched))).cancel()

    async def _query(self, query: str) -> list[ContextPassage]:
        task = self._prefetched.pop(query, None)
        if task is not None:
            try:
                return await task
            except Exception:
                log.warning("a speculative knowledge query failed; asking again", exc_info=True)
        return await self._deps.retrieve(query, self._documents, self._deps.retrieval_k)

    def question_text(self, turn: CallerTurn) -> str:
        """A short question that points back and names nothing new carries the question before it."""
        if (
            turn.intent is Intent.QUESTION
            and self._last_question
            and turn.word_count <= _FOLLOW_UP_WORDS
            and _POINTS_BACK.search(turn.text)
            and len(content_terms(turn.text)) <= 1
        ):
            return f"{self._last_question} {turn.text}"
        return turn.text

    def answered(self, turn: CallerTurn) -> None:
        if turn.intent is Intent.QUESTION:
            self._last_question = turn.text

    async def retrieve(self, turn: CallerTurn) -> list[ContextPassage]:
        wants_facts = (
            turn.intent is Intent.QUESTION
            or turn.objection in (Objection.PRICE, Objection.COMPETITOR)
            or (turn.intent is Intent.OTHER and turn.word_count >= 5)
        )
        if not wants_facts or not self._documents:
            return []
        queries = dict.fromkeys((turn.text, self.question_text(turn)))  # a follow-up also with its question
        found: dict[str, ContextPassage] = {}
        try:
            for query in queries:
                for passage in await self._query(query):
                    found.setdefault(passage.source_id, passage)
        except Exception:
            log.exception("knowledge retrieval failed; answering without context")
        return list(found.values())


def _quiet(task: asyncio.Task[list[ContextPassage]]) -> None:
    """A speculative query nobody awaits must not log "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()
