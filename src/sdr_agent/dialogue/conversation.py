"""``AgentDialogue``: one call's dialogue — routes each caller turn by intent, asks the LLM with retrieved
knowledge, hands tool calls to ``CallActions`` and keeps the history as the caller heard it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from sdr_agent.dialogue.actions import CallActions, ToolResult, new_request_id, speak
from sdr_agent.dialogue.base import DialogueEvent, SpeakText, ToolActivity, TurnAnnotations
from sdr_agent.dialogue.caller_facts import looks_like_voicemail, proposes_meeting
from sdr_agent.dialogue.deps import DialogueDeps
from sdr_agent.dialogue.escalation import EscalationMonitor, score_sentiment
from sdr_agent.dialogue.facts import CallFacts, record_answer
from sdr_agent.dialogue.hints import build_hints, prompt_notes
from sdr_agent.dialogue.intents import Intent, IntentClassifier
from sdr_agent.dialogue.llm_turn import RejectedCall, speak_tool_results, stream_llm_turn
from sdr_agent.dialogue.phases import CallPhase, PhaseTracker
from sdr_agent.dialogue.playbook import Playbook
from sdr_agent.dialogue.prompt import HistoryTurn, PromptParts, assemble_prompt
from sdr_agent.dialogue.speech_text import SpeechTextStream, clean_for_speech
from sdr_agent.dialogue.tool_args import BookingContext, ValidatedCall, validate_call
from sdr_agent.dialogue.tool_config import BOOK_MEETING, ToolBox
from sdr_agent.dialogue.tool_runner import ToolRunContext, raw_call_record, tool_result_record
from sdr_agent.dialogue.turn_analysis import CallerTurn, analyze_turn
from sdr_agent.dialogue.variables import VariableScope
from sdr_agent.engines.base import ContextPassage, LLMRequest, TextDelta, ToolCall

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DialogueSetup:
    """The agent's configuration for one call, resolved by ``factory.build_dialogue``."""

    agent_id: str
    agent_name: str
    first_message: str
    system_prompt: str
    document_ids: tuple[str, ...]
    playbook: Playbook
    toolbox: ToolBox
    scope: VariableScope
    deps: DialogueDeps
    temperature: float | None = None
    max_tokens: int | None = None


class AgentDialogue:
    def __init__(self, setup: DialogueSetup) -> None:
        self._setup = setup
        self._deps = setup.deps
        self._playbook = setup.playbook
        self._classifier = IntentClassifier(setup.deps.embedder)
        self._phases = PhaseTracker()
        self._facts = CallFacts()
        self._escalation = EscalationMonitor()
        self._history: list[HistoryTurn] = []
        self._annotations = TurnAnnotations(phase=CallPhase.CALL_START.value)
        self._last_heard_agent = ""
        self._actions = CallActions(
            toolbox=setup.toolbox, playbook=setup.playbook, facts=self._facts, phases=self._phases,
            run=ToolRunContext(
                values=setup.scope.current, secrets=setup.scope.secret_values(), http=setup.deps.http,
                book_meeting=setup.deps.book_meeting, playbook=setup.playbook,
            ),
        )

    # ------------------------------------------------------------ Dialogue protocol
    def opening_line(self) -> str:
        return clean_for_speech(self._setup.first_message)

    def respond(self, user_text: str) -> AsyncIterator[DialogueEvent]:
        """Reads the turn at once (``annotate_user_turn`` is ready before iterating); the answer streams."""
        turn = analyze_turn(user_text, self._classifier, score_sentiment(user_text))
        first_turn = self._phases.caller_turns == 0
        voicemail = first_turn and self._actions.detects_voicemail and looks_like_voicemail(turn.text)
        facts = self._facts
        facts.caller_name = turn.name or facts.caller_name
        facts.caller_email = turn.email or facts.caller_email
        if turn.objection:
            facts.add_objection(turn.objection, turn.text)
        facts.intents.append(turn.intent.value)
        negative_streak = self._escalation.observe(turn.sentiment)
        escalate = negative_streak or (turn.asks_for_human and not self._actions.ended)
        self._phases.on_caller_turn(turn.intent)
        if voicemail:
            self._phases.complete()
        if turn.text:
            self._history.append(HistoryTurn("user", turn.text))
        self._annotations = TurnAnnotations(
            intent=turn.intent.value, phase=self._phases.phase.value, sentiment=turn.sentiment,
            extra=turn.annotations(),
        )
        return self._answer(turn, voicemail=voicemail, escalate=escalate)

    def annotate_user_turn(self) -> TurnAnnotations:
        return self._annotations

    def record_agent_turn(self, heard_text: str, interrupted: bool) -> None:
        heard = " ".join(heard_text.split())
        if heard:
            self._history.append(HistoryTurn("assistant", heard, interrupted))
            self._last_heard_agent = heard
        for question in self._playbook.qualifying_questions:
            if question in heard and question not in self._facts.qualifying_asked:
                self._facts.qualifying_asked.append(question)
        self._actions.heard(heard, interrupted)

    def reprompt_line(self) -> str:
        return clean_for_speech(self._playbook.reprompt)

    def goodbye_line(self) -> str:
        return clean_for_speech(self._playbook.goodbye)

    def fallback_line(self) -> str:
        return clean_for_speech(self._playbook.fallback)

    @property
    def phase(self) -> str:
        return self._phases.phase.value

    @property
    def history(self) -> list[HistoryTurn]:
        """The conversation as the caller heard it (agent turns only as far as they were played)."""
        return list(self._history)

    def state_snapshot(self) -> dict[str, Any]:
        return self._facts.snapshot(self.phase)

    # ------------------------------------------------------------ routing
    async def _answer(
        self, turn: CallerTurn, *, voicemail: bool, escalate: bool
    ) -> AsyncIterator[DialogueEvent]:
        actions = self._actions
        if actions.ended:
            return
        if not turn.text:
            moves: AsyncIterator[DialogueEvent] = _single(speak(self._playbook.reprompt))
        elif voicemail:
            moves = actions.leave_voicemail()
        elif actions.decides_pending(turn):
            moves = actions.resolve_pending(turn)
        elif escalate:
            self._escalation.fired = True
            moves = actions.escalate(turn)
        elif turn.intent is Intent.GOODBYE:
            moves = actions.goodbye("caller said goodbye")
        else:
            moves = self._llm_answer(turn)
        try:
            async for event in moves:
                yield event
        finally:
            await _close(moves)
            self._phases.after_turn()

    # ------------------------------------------------------------ LLM turns
    def _validate(self, call: ToolCall) -> ValidatedCall:
        if not call.id:
            call = replace(call, id=new_request_id())
        booking = BookingContext(
            now=self._deps.clock(), default_timezone=self._default_timezone(),
            caller_name=self._facts.caller_name, caller_email=self._facts.caller_email,
            agent_id=self._setup.agent_id, conversation_id=self._setup.scope.get("system__conversation_id"),
        )
        return validate_call(call, self._setup.toolbox, booking)

    def _default_timezone(self) -> str:
        for name in ("timezone", "system__timezone"):
            value = self._setup.scope.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return self._deps.default_timezone

    async def _retrieve(self, turn: CallerTurn) -> list[ContextPassage]:
        wants_facts = turn.intent is Intent.QUESTION or turn.objection in ("price", "competitor") or (
            turn.intent is Intent.OTHER and turn.word_count >= 5)
        if not wants_facts or not self._setup.document_ids:
            return []
        try:
            passages = await self._deps.retrieve(turn.text, self._setup.document_ids, self._deps.retrieval_k)
        except Exception:
            log.exception("knowledge retrieval failed; answering without context")
            return []
        return list(passages)

    def _next_question(self) -> str | None:
        if self._phases.phase not in (CallPhase.CALL_START, CallPhase.DISCOVERY):
            return None
        asked = self._facts.qualifying_asked
        return next((q for q in self._playbook.qualifying_questions if q not in asked), None)

    def _request(self, turn: CallerTurn, context: list[ContextPassage]) -> LLMRequest:
        history = self._history[:-1] if self._history and self._history[-1].role == "user" else self._history
        next_question = self._next_question()
        prompt = assemble_prompt(PromptParts(
            system_prompt=self._setup.system_prompt, agent_name=self._setup.agent_name,
            phase=self._phases.phase.value, user_text=turn.text, history=history, context=context,
            notes=prompt_notes(self._phases.phase, next_question, self._facts),
            window_tokens=self._deps.context_window_tokens, reserve_tokens=self._deps.max_output_tokens,
        ))
        hints = build_hints(
            turn, phase=self._phases.phase, facts=self._facts, playbook=self._playbook,
            next_question=next_question, meeting_proposed=proposes_meeting(self._last_heard_agent),
            can_book=BOOK_MEETING in self._setup.toolbox, agent_name=self._setup.agent_name,
        )
        return LLMRequest(
            messages=prompt.messages, tools=self._setup.toolbox.specs, context=prompt.context,
            temperature=self._setup.temperature, max_tokens=self._setup.max_tokens, hints=hints,
        )

    def _rejected(self, item: RejectedCall) -> ToolActivity:
        log.info("rejected %s tool call: %s", item.call.name, item.error)
        tool = self._setup.toolbox.get(item.call.name)
        request_id = item.call.id or new_request_id()
        return ToolActivity(
            raw_call_record(request_id, item.call.name, item.call.arguments or item.call.raw_arguments,
                            tool.transcript_type if tool else "system"),
            tool_result_record(request_id, item.call.name, item.error, is_error=True, called=False),
        )

    async def _llm_answer(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        context = await self._retrieve(turn)
        slot_offer = turn.slot is not None and turn.slot.complete
        question = self._facts.add_question(turn.text) if turn.intent is Intent.QUESTION and not slot_offer \
            else None
        request = self._request(turn, context)
        speech = SpeechTextStream()
        spoken: list[str] = []
        calls: list[ValidatedCall] = []
        async with contextlib.aclosing(stream_llm_turn(self._deps.llm, request, self._validate)) as items:
            async for item in items:
                if isinstance(item, TextDelta):
                    if piece := speech.feed(item.text):
                        spoken.append(piece)
                        yield SpeakText(piece)
                elif isinstance(item, RejectedCall):
                    yield self._rejected(item)
                else:
                    calls.append(item)
        if tail := speech.flush():
            spoken.append(tail)
            yield SpeakText(tail)
        if question is not None:
            record_answer(question, " ".join(spoken), [(p.source_id, p.text) for p in context])
        results: list[ToolResult] = []
        async for event in self._actions.handle_calls(calls, results, spoken_so_far=bool(spoken)):
            yield event
        if results and not self._actions.ended:
            spoken_results = speak_tool_results(self._deps.llm, request, results, self._validate)
            async with contextlib.aclosing(spoken_results) as pieces:
                async for piece in pieces:
                    yield SpeakText(piece)


async def _single(event: DialogueEvent) -> AsyncIterator[DialogueEvent]:
    yield event


async def _close(events: AsyncIterator[DialogueEvent]) -> None:
    closer = getattr(events, "aclose", None)
    if closer is not None:
        await closer()
