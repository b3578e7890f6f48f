"""Runs eval scenarios as text conversations through the same dialogue layer a phone call uses (the same
``build_dialogue``, retrieval through the real knowledge store and embedder, the configured LLM), and scores
every agent reply against the caller turn's labels."""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdr_agent.dialogue.base import EndCall, SpeakText, ToolActivity, TransferCall
from sdr_agent.dialogue.factory import DialogueDeps, build_dialogue
from sdr_agent.dialogue.guardrails import figures, normalize_sentence, sentences
from sdr_agent.dialogue.meetings import MeetingRequest
from sdr_agent.dialogue.speech_text import clean_for_speech
from sdr_agent.engines.base import Embedder, LanguageModel
from sdr_agent.evals.scenarios import CallerTurn, Product, Scenario
from sdr_agent.knowledge.store import KnowledgeStore

# A Monday afternoon, so "Thursday at 2 pm" is the same meeting on every run.
EVAL_NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_HUMAN_CLAIM = re.compile(r"\b(?:i'?m|i am) (?:a |an )?(?:real |actual )?(?:human|person)\b", re.IGNORECASE)


@dataclass(slots=True)
class TurnResult:
    caller: str
    reply: str
    action: str
    expected_action: str
    relevant: bool
    facts_ok: bool | None  # None: the turn has no fact labels
    missing_facts: list[str]
    forbidden: list[str]
    invented: list[str]
    first_text_ms: float | None = (
        None  # caller turn in → first text to speak out (dialogue + LLM + retrieval)
    )


@dataclass(slots=True)
class ScenarioResult:
    id: str
    product: str
    held_out: bool
    turns: list[TurnResult] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def _norm(text: str) -> str:
    return " ".join(clean_for_speech(text).lower().replace("’", "'").split())


def _contains(reply: str, label: str) -> bool:
    return _norm(label) in _norm(reply) or label.lower() in reply.lower()


def _invented(reply: str, sources: str) -> list[str]:
    allowed = figures(sources)
    out = [s for s in sentences(reply) if figures(s) - allowed]
    out += [s for s in sentences(reply) if _HUMAN_CLAIM.search(s)]
    return out


def score_turn(turn: CallerTurn, reply: str, action: str, sources: str) -> TurnResult:
    missing = [fact for fact in turn.facts if not _contains(reply, fact)]
    on_topic = all(any(_contains(reply, option) for option in group) for group in turn.any_of)
    forbidden = [word for word in turn.must_not if _contains(reply, word)]
    return TurnResult(
        caller=turn.caller,
        reply=reply,
        action=action,
        expected_action=turn.action,
        relevant=bool(reply.strip()) and on_topic and not missing and not forbidden,
        facts_ok=(not missing) if turn.facts else None,
        missing_facts=missing,
        forbidden=forbidden,
        invented=_invented(reply, sources),
    )


def _action(events: Sequence[object], voicemail: bool) -> str:
    if any(isinstance(e, TransferCall) for e in events):
        return "transfer"
    if any(isinstance(e, EndCall) for e in events):
        return "voicemail" if voicemail else "end_call"
    for event in events:
        if isinstance(event, ToolActivity) and event.tool_call.get("tool_name") == "book_meeting":
            return "book_meeting" if event.tool_call.get("tool_has_been_called") else "confirm_booking"
    return "none"


def agent_config(product: Product, document_id: str) -> dict[str, Any]:
    return {
        "agent": {
            "first_message": product.first_message,
            "prompt": {
                "prompt": product.prompt,
                "knowledge_base": [{"type": "text", "id": document_id, "name": f"{product.id} facts"}],
            },
        }
    }


class EvalKnowledge:
    """A private knowledge store for the eval: embedded Chroma in a temporary folder, the product's
    embedder."""

    def __init__(self, embedder: Embedder) -> None:
        from sdr_agent.knowledge.chroma_client import open_chroma

        self._dir = tempfile.TemporaryDirectory(prefix="sdr-eval-")
        path = Path(self._dir.name)
        self.store = KnowledgeStore(lambda: open_chroma(None, path), embedder, collection_name="eval")
        self._loaded: set[str] = set()

    async def document_for(self, product: Product) -> str:
        document_id = f"eval_{product.id}"
        if document_id not in self._loaded:
            await self.store.add_document(document_id, f"{product.id} facts", "eval", product.kb)
            self._loaded.add(document_id)
        return document_id

    def close(self) -> None:
        self._dir.cleanup()


async def run_scenario(
    scenario: Scenario, llm: LanguageModel, knowledge: EvalKnowledge, embedder: Embedder | None
) -> ScenarioResult:
    product = scenario.product
    document_id = await knowledge.document_for(product)
    written: dict[str, Any] = {}

    async def book(request: MeetingRequest) -> dict[str, Any]:
        return {"meeting_id": f"mtg_{scenario.id}", "starts_at": request.starts_at.isoformat()}

    async def write_metadata(patch: dict[str, Any]) -> None:
        written.update(patch)

    dialogue = build_dialogue(
        agent_config=agent_config(product, document_id),
        platform_settings={},
        agent_id=f"agent_{product.id}",
        agent_name=product.agent_name,
        dynamic_variables=scenario.variables,
        outbound=scenario.direction == "outbound",
        deps=DialogueDeps(
            llm=llm,
            retrieve=knowledge.store.query,
            book_meeting=book,
            http=None,
            clock=lambda: EVAL_NOW,
            embedder=embedder,
            write_metadata=write_metadata,
        ),
    )
    result = ScenarioResult(scenario.id, product.id, product.held_out)
    opening = dialogue.opening_line()
    dialogue.record_agent_turn(opening, False)
    sources = "\n".join((product.prompt, opening, product.kb))
    said: list[str] = []
    ended = False
    for turn in scenario.turns:
        sources += "\n" + turn.caller
        if ended:
            result.turns.append(score_turn(turn, "", "none", sources))
            continue
        started = time.perf_counter()
        first_text_ms: float | None = None
        events = []
        async for event in dialogue.respond(turn.caller):
            if first_text_ms is None and isinstance(event, SpeakText):
                first_text_ms = (time.perf_counter() - started) * 1000
            events.append(event)
        reply = " ".join(e.text.strip() for e in events if isinstance(e, SpeakText) and e.text.strip())
        sources += "\n" + "\n".join(
            str(e.tool_result.get("result_value", ""))
            for e in events
            if isinstance(e, ToolActivity) and e.tool_result
        )
        action = _action(events, dialogue.facts.voicemail)
        ended = any(isinstance(e, (EndCall, TransferCall)) for e in events)
        dialogue.record_agent_turn(reply, False)
        said += sentences(reply)
        scored = score_turn(turn, reply, action, sources)
        scored.first_text_ms = first_text_ms
        result.turns.append(scored)
    exempt = {normalize_sentence(s) for s in sentences(opening) + sentences(dialogue.goodbye_line())}
    counts = Counter(normalize_sentence(s) for s in said)
    result.repeated = [s for s, n in counts.items() if n > 1 and s and s not in exempt]
    result.metadata = written
    return result
