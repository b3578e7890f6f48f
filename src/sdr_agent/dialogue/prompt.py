"""Prompt assembly: the agent's system prompt (variables substituted), the call phase, retrieved knowledge
with source ids, and the conversation as the caller heard it — capped to the model's context window by
dropping the oldest turns first."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sdr_agent.engines.base import ChatMessage, ContextPassage

PHASE_GUIDANCE = {
    "CALL_START": "The call just started: greet the caller briefly and find out who you are speaking with.",
    "DISCOVERY": (
        "Qualify the caller: ask one question at a time about how they work today, what they need and who "
        "decides, and listen."
    ),
    "ACTIVE": (
        "Answer the caller's questions, handle objections politely, and propose a short meeting when it "
        "fits; use your tools when the caller asks for something."
    ),
    "COMPLETION": "The call is ending: thank the caller and say goodbye.",
}
RULES = (
    "You are speaking on a live phone call: answer in one to three short sentences, with no lists, markdown "
    "or emojis.",
    "Answer factual questions only from the knowledge base context. If it does not contain the answer, say "
    "you will follow up after the call. Never invent a fact, price or date.",
    "When the caller agrees to a meeting at a specific day and time, call book_meeting; the system confirms "
    "side-effecting actions with the caller before they run.",
)


def approx_tokens(text: str) -> int:
    """Rough token count for budgeting: words × 1.3."""
    return math.ceil(len(text.split()) * 1.3)


@dataclass(frozen=True, slots=True)
class HistoryTurn:
    role: Literal["user", "assistant"]
    text: str
    interrupted: bool = False


@dataclass(slots=True)
class PromptParts:
    system_prompt: str
    agent_name: str
    phase: str
    user_text: str
    history: Sequence[HistoryTurn] = ()
    context: Sequence[ContextPassage] = ()
    notes: Sequence[
        str
    ] = ()  # turn-specific guidance from the dialogue (pending confirmation, next question)
    window_tokens: int = 4096
    reserve_tokens: int = 256  # kept free for the answer


@dataclass(slots=True)
class AssembledPrompt:
    messages: list[ChatMessage]
    context: list[ContextPassage]
    dropped_turns: int = 0
    dropped_passages: int = 0
    tokens: int = 0
    notes: list[str] = field(default_factory=list)


def _system_text(parts: PromptParts, context: Sequence[ContextPassage], prompt_text: str) -> str:
    sections = [prompt_text.strip()] if prompt_text.strip() else []
    who = f"You are {parts.agent_name}." if parts.agent_name else ""
    sections.append(f"{who} Current call phase: {parts.phase}. {PHASE_GUIDANCE.get(parts.phase, '')}".strip())
    sections.append(" ".join(RULES))
    sections.extend(note for note in parts.notes if note)
    if context:
        lines = ["Knowledge base context:"]
        lines += [f"[source: {passage.source_id}] {' '.join(passage.text.split())}" for passage in context]
        sections.append("\n".join(lines))
    else:
        sections.append("Knowledge base context: none retrieved for this turn.")
    return "\n\n".join(sections)


def _truncate_words(text: str, max_tokens: int) -> str:
    words = text.split(" ")
    keep = max(1, int(max_tokens / 1.3))
    return " ".join(words[:keep])


def assemble_prompt(parts: PromptParts) -> AssembledPrompt:
    budget = max(64, parts.window_tokens - parts.reserve_tokens)
    context = list(parts.context)
    prompt_text = parts.system_prompt
    user_tokens = approx_tokens(parts.user_text)
    dropped_passages = 0

    system = _system_text(parts, context, prompt_text)
    while approx_tokens(system) + user_tokens > budget and context:
        context.pop()  # passages arrive best first, so the weakest goes first
        dropped_passages += 1
        system = _system_text(parts, context, prompt_text)
    if approx_tokens(system) + user_tokens > budget:
        overflow = approx_tokens(system) + user_tokens - budget
        prompt_text = _truncate_words(prompt_text, max(1, approx_tokens(prompt_text) - overflow))
        system = _system_text(parts, context, prompt_text)

    used = approx_tokens(system) + user_tokens
    kept: list[HistoryTurn] = []
    for turn in reversed(parts.history):
        cost = approx_tokens(turn.text)
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    messages = [ChatMessage("system", system)]
    messages += [ChatMessage(turn.role, turn.text) for turn in kept if turn.text.strip()]
    messages.append(ChatMessage("user", parts.user_text))
    return AssembledPrompt(
        messages=messages,
        context=context,
        dropped_turns=len(parts.history) - len(kept),
        dropped_passages=dropped_passages,
        tokens=used,
        notes=list(parts.notes),
    )
