"""Helpers for the dialogue tests: a fixture knowledge base, a keyword retriever, a meeting recorder and a
driver that plays caller turns through a dialogue the way the voice session does."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sdr_agent.dialogue.base import DialogueEvent, EndCall, SendDigits, SpeakText, ToolActivity, TransferCall
from sdr_agent.dialogue.conversation import AgentDialogue
from sdr_agent.dialogue.factory import DialogueDeps, build_dialogue
from sdr_agent.dialogue.meetings import MeetingRequest
from sdr_agent.engines.base import ContextPassage, LanguageModel

NOW = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)  # a Thursday

KB_PASSAGES = [
    ContextPassage(
        "Acme Dialer pricing. The Starter plan costs $49 per user per month. The Pro plan costs $99 per user "
        "per month and adds call recording. Annual contracts get a 15% discount.",
        "doc_pricing",
        "Pricing",
    ),
    ContextPassage(
        "Acme Dialer integrates with Salesforce and HubSpot out of the box. Most teams finish setup in about "
        "2 days.",
        "doc_integrations",
        "Integrations",
    ),
    ContextPassage(
        "All call data is encrypted at rest and in transit. Acme is SOC 2 Type II certified and stores data "
        "in the EU or the US.",
        "doc_security",
        "Security",
    ),
    ContextPassage(
        "Support is available by chat and phone from 8am to 6pm Eastern on weekdays. Every customer gets a "
        "named onboarding manager.",
        "doc_support",
        "Support",
    ),
]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "do",
        "does",
        "it",
        "its",
        "you",
        "your",
        "we",
        "our",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "what",
        "how",
        "much",
    ]
)


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if w not in _STOP}


@dataclass
class KeywordRetriever:
    """Scores passages by shared words; only documents in ``document_ids`` are visible."""

    passages: Sequence[ContextPassage] = tuple(KB_PASSAGES)
    calls: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)

    async def __call__(self, question: str, document_ids: Sequence[str], k: int) -> list[ContextPassage]:
        self.calls.append((question, tuple(document_ids), k))
        asked = _words(question)
        visible = [p for p in self.passages if p.source_id in document_ids]
        scored = [(len(asked & _words(p.text)) / (1 + len(asked)), p) for p in visible]
        scored.sort(key=lambda item: item[0], reverse=True)
        return [ContextPassage(p.text, p.source_id, p.document_name, score) for score, p in scored[:k]]


@dataclass
class MeetingRecorder:
    booked: list[MeetingRequest] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, request: MeetingRequest) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("calendar down")
        self.booked.append(request)
        return {"meeting_id": f"mtg_{len(self.booked)}", "starts_at": request.starts_at.isoformat()}


def agent_config(
    *,
    first_message: str = "Hi {{customer_name}}, this is Alex from Acme. Do you have a minute?",
    prompt: str = "You are Alex, an SDR for Acme Dialer. Today is {{system__time_utc}}.",
    documents: Sequence[str] = ("doc_pricing", "doc_integrations", "doc_security", "doc_support"),
    tools: Sequence[dict[str, Any]] = (),
    built_in_tools: dict[str, Any] | None = None,
    placeholders: dict[str, Any] | None = None,
) -> dict[str, Any]:
    prompt_block: dict[str, Any] = {
        "prompt": prompt,
        "knowledge_base": [{"type": "text", "id": doc, "name": doc} for doc in documents],
        "tools": list(tools),
    }
    if built_in_tools is not None:
        prompt_block["built_in_tools"] = built_in_tools
    agent: dict[str, Any] = {"first_message": first_message, "prompt": prompt_block}
    if placeholders is not None:
        agent["dynamic_variables"] = {"dynamic_variable_placeholders": placeholders}
    return {"agent": agent}


def make_dialogue(
    llm: LanguageModel,
    *,
    config: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    retriever: KeywordRetriever | None = None,
    meetings: MeetingRecorder | None = None,
    booking: bool = True,
    tools: list[dict[str, Any]] | None = None,
    outbound: bool = False,
    **deps: Any,
) -> AgentDialogue:
    return build_dialogue(
        agent_config=config if config is not None else agent_config(),
        platform_settings={},
        agent_id="agent_test",
        agent_name="Alex",
        dynamic_variables=variables if variables is not None else {"customer_name": "Dana"},
        deps=DialogueDeps(
            llm=llm,
            retrieve=retriever or KeywordRetriever(),
            book_meeting=(meetings or MeetingRecorder()) if booking else None,
            http=None,
            clock=lambda: NOW,
            **deps,
        ),
        tools=tools,
        outbound=outbound,
    )


@dataclass
class Turn:
    events: list[DialogueEvent]

    @property
    def text(self) -> str:
        return " ".join(" ".join(e.text for e in self.events if isinstance(e, SpeakText)).split())

    @property
    def activities(self) -> list[ToolActivity]:
        return [e for e in self.events if isinstance(e, ToolActivity)]

    @property
    def ends_call(self) -> bool:
        return any(isinstance(e, EndCall) for e in self.events)

    @property
    def transfer(self) -> TransferCall | None:
        return next((e for e in self.events if isinstance(e, TransferCall)), None)

    @property
    def digits(self) -> str | None:
        return next((e.digits for e in self.events if isinstance(e, SendDigits)), None)


async def say(
    dialogue: AgentDialogue, text: str, *, heard: str | None = None, interrupted: bool = False
) -> Turn:
    """One caller turn; the agent's reply is recorded as fully heard unless ``heard`` says otherwise."""
    events = [event async for event in dialogue.respond(text)]
    turn = Turn(events)
    dialogue.record_agent_turn(turn.text if heard is None else heard, interrupted)
    return turn
