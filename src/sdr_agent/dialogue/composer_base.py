"""The composer's building blocks, apart from the turn routing and the moves in ``composer``: the facts one
turn is composed from (``ComposeContext``), what the composer remembers across the call (``ComposerState``),
and the lines every move is built from — a fresh variant of a line, the quoted knowledge, the next qualifying
question or pitch, the reason for the call and the agent's introduction (``ComposerBase``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sdr_agent.dialogue.answers import best_sentences
from sdr_agent.dialogue.guardrails import SaidLog, normalize_sentence
from sdr_agent.dialogue.persona import AgentPersona
from sdr_agent.dialogue.reply_parts import AS_MENTIONED, mid_sentence, new_call
from sdr_agent.dialogue.sales_script import ANYTHING_ELSE, SalesScript
from sdr_agent.engines.base import ContextPassage, Embedder, ReplyAct, ToolCall, TurnBrief


@dataclass(slots=True)
class ComposeContext:
    passages: Sequence[ContextPassage]
    first_turn: bool
    discovery: bool  # the call is still qualifying
    meeting_proposed: bool  # the last agent line asked about meeting
    can_book: bool
    booked: bool
    caller_name: str | None
    caller_email: str | None
    objection_count: int
    question: str = ""  # the question to answer, with the one it follows up ("who pays for that?")


@dataclass(slots=True)
class ComposerState:
    asked: list[str] = field(default_factory=list)
    pitched_at: int = -10
    turn: int = 0
    awaiting_time: bool = False
    awaiting_callback: bool = False
    awaiting_email: bool = False
    offered_info: bool = False
    gatekeeper: bool = False
    callback_when: str | None = None
    info_email: str | None = None


class ComposerBase:
    """The state and the line helpers ``ReplyComposer`` composes its moves from."""

    def __init__(
        self,
        persona: AgentPersona,
        script: SalesScript,
        said: SaidLog,
        embedder: Embedder | None = None,
        opening: str = "",
    ) -> None:
        self.opening = normalize_sentence(opening)
        self.persona = persona
        self.script = script
        self.said = said
        self.embedder = embedder
        self.state = ComposerState()
        self.caller_said: list[str] = []

    # ------------------------------------------------------------ helpers
    def _fresh(self, options: Sequence[str]) -> str:
        return self.said.fresh(tuple(options)) or ""

    def _brief(self, act: ReplyAct, *parts: str, calls: Sequence[ToolCall] = (), note: str = "") -> TurnBrief:
        draft = tuple(p.strip() for p in parts if p and p.strip())
        guidance = (note,) if note else ()
        return TurnBrief(act, draft, tuple(calls), guidance)

    def _end(self, reason: str) -> ToolCall:
        return new_call("end_call", {"reason": reason})

    def _knowledge(self, question: str, ctx: ComposeContext, limit: int = 2) -> list[str]:
        ranked = best_sentences(question, ctx.passages, limit, self.embedder, by_score=True)
        if not ranked:
            return []
        if not self.said.said(ranked[0]):
            in_order = best_sentences(question, ctx.passages, limit, self.embedder)
            return [s for s in in_order if not self.said.said(s)]
        # The best answer was already given: say it again as a reminder, never word for word.
        prefix = self._fresh([p + mid_sentence(ranked[0], ctx.passages) for p in AS_MENTIONED])
        return [prefix] if prefix else []

    def _already_answered(self, question: str) -> bool:
        """ "How many ...?" is answered once the caller has said a number ("we're only 12 people")."""
        return "how many" in question.lower() and any(re.search(r"\d", said) for said in self.caller_said)

    def next_step(self, ctx: ComposeContext) -> str:
        st = self.state
        remaining = [
            q
            for q in self.script.questions
            if q not in st.asked and not self.said.said(q) and not self._already_answered(q)
        ]
        if remaining and (ctx.discovery or len(st.asked) < 2) and not ctx.booked:
            st.asked.append(remaining[0])
            return remaining[0]
        if ctx.can_book and not ctx.booked and st.turn - st.pitched_at >= 3:
            pitch = self._fresh(self.script.pitches())
            if pitch:
                st.pitched_at = st.turn
                return pitch
        if remaining and not ctx.booked:
            st.asked.append(remaining[0])
            return remaining[0]
        return self._fresh(ANYTHING_ELSE)

    def reason_line(self) -> str:
        """Why the agent calls, unless the first message or an earlier line already said it."""
        reason = self.persona.reason()
        if reason and normalize_sentence(reason) not in self.opening and not self.said.said(reason):
            return reason
        product = self.persona.product
        if not product or product.lower() in self.opening:
            return ""
        return self._fresh((f"I'm reaching out about {product}.",))

    def introduction(self) -> str:
        p = self.persona
        options = [p.introduction()]
        if p.agent_name and p.company:
            options += [
                f"My name is {p.agent_name}, and I'm with {p.company}.",
                f"I'm {p.agent_name}, calling from {p.company}.",
            ]
        return self._fresh([o for o in options if o])
