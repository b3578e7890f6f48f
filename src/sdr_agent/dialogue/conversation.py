"""``AgentDialogue``: one call's dialogue — routes each caller turn by intent, asks the LLM with retrieved
knowledge, runs tools (side-effecting ones only after the caller confirms) and keeps the heard history."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from sdr_agent.dialogue.base import DialogueEvent, EndCall, SpeakText, ToolActivity, TurnAnnotations
from sdr_agent.dialogue.caller_facts import looks_like_voicemail, proposes_meeting
from sdr_agent.dialogue.deps import DialogueDeps
from sdr_agent.dialogue.escalation import EscalationMonitor, score_sentiment
from sdr_agent.dialogue.facts import CallFacts, record_answer
from sdr_agent.dialogue.hints import build_hints, prompt_notes
from sdr_agent.dialogue.intents import Intent, IntentClassifier
from sdr_agent.dialogue.llm_turn import RejectedCall, speak_tool_results, stream_llm_turn
from sdr_agent.dialogue.meetings import MeetingRequest
from sdr_agent.dialogue.phases import CallPhase, PhaseTracker
from sdr_agent.dialogue.playbook import Playbook
from sdr_agent.dialogue.prompt import HistoryTurn, PromptParts, assemble_prompt
from sdr_agent.dialogue.speech_text import SpeechTextStream, clean_for_speech
from sdr_agent.dialogue.tool_args import BookingContext, ValidatedCall, validate_call
from sdr_agent.dialogue.tool_config import BOOK_MEETING, AgentTool, ToolBox, transfer_destinations
from sdr_agent.dialogue.tool_runner import (
    ToolRunContext,
    confirmation_question,
    execute_tool,
    raw_call_record,
    tool_call_record,
    tool_result_record,
)
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


@dataclass(slots=True)
class Pending:
    """A side-effecting action waiting for the caller's yes (``validated`` None = a call-back offer)."""

    question: str
    validated: ValidatedCall | None = None


def _new_request_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


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
        self._pending: Pending | None = None
        self._annotations = TurnAnnotations(phase=CallPhase.CALL_START.value)
        self._last_heard_agent = ""
        self._ended = False
        self._tools_run = ToolRunContext(
            values=setup.scope.current,
            secrets=setup.scope.secret_values(),
            http=setup.deps.http,
            book_meeting=setup.deps.book_meeting,
            playbook=setup.playbook,
            on_meeting=self._meeting_booked,
        )

    # ------------------------------------------------------------ Dialogue protocol
    def opening_line(self) -> str:
        return clean_for_speech(self._setup.first_message)

    def respond(self, user_text: str) -> AsyncIterator[DialogueEvent]:
        turn = analyze_turn(user_text, self._classifier, score_sentiment(user_text))
        voicemail = (
            self._phases.caller_turns == 0
            and self._voicemail_tool() is not None
            and looks_like_voicemail(turn.text)
        )
        if turn.name:
            self._facts.caller_name = turn.name
        if turn.email:
            self._facts.caller_email = turn.email
        if turn.objection:
            self._facts.add_objection(turn.objection, turn.text)
        self._facts.intents.append(turn.intent.value)
        escalate = self._escalation.observe(turn.sentiment) or (turn.asks_for_human and not self._ended)
        if voicemail:
            self._phases.on_caller_turn(turn.intent)
            self._phases.complete()
        else:
            self._phases.on_caller_turn(turn.intent)
        if turn.text:
            self._history.append(HistoryTurn("user", turn.text))
        self._annotations = TurnAnnotations(
            intent=turn.intent.value,
            phase=self._phases.phase.value,
            sentiment=turn.sentiment,
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
        if interrupted and self._pending is not None and self._pending.question not in heard:
            self._pending = None  # the caller never heard the confirmation question

    def reprompt_line(self) -> str:
        return clean_for_speech(self._playbook.reprompt)

    def goodbye_line(self) -> str:
        return clean_for_speech(self._playbook.goodbye)

    def fallback_line(self) -> str:
        return clean_for_speech(self._playbook.fallback)

    @property
    def phase(self) -> str:
        return self._phases.phase.value

    def state_snapshot(self) -> dict[str, Any]:
        return self._facts.snapshot(self.phase)

    # ------------------------------------------------------------ routing
    async def _answer(
        self, turn: CallerTurn, *, voicemail: bool, escalate: bool
    ) -> AsyncIterator[DialogueEvent]:
        if self._ended:
            return
        try:
            if not turn.text:
                yield SpeakText(self.reprompt_line())
            elif voicemail:
                async for event in self._leave_voicemail():
                    yield event
            elif self._pending is not None and self._pending_decided(turn):
                async for event in self._resolve_pending(turn):
                    yield event
            elif escalate:
                async for event in self._escalate(turn):
                    yield event
            elif turn.intent is Intent.GOODBYE:
                async for event in self._goodbye("caller said goodbye"):
                    yield event
            else:
                async for event in self._llm_answer(turn):
                    yield event
        finally:
            self._phases.after_turn()

    def _pending_decided(self, turn: CallerTurn) -> bool:
        if turn.intent is Intent.QUESTION:
            return False  # answer the question; the confirmation stays open for the next turn
        if turn.polarity is None or turn.intent is Intent.GOODBYE:
            self._pending = None  # the caller moved on
            return False
        return True

    async def _resolve_pending(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        pending, self._pending = self._pending, None
        assert pending is not None
        validated = pending.validated
        if turn.polarity == "no":
            if validated is not None:
                yield ToolActivity(
                    tool_call_record(validated, called=False),
                    tool_result_record(
                        validated.call.id,
                        validated.tool.name,
                        "cancelled by the caller",
                        is_error=False,
                        called=False,
                    ),
                )
                line = (
                    self._playbook.cancelled_booking
                    if validated.tool.name == BOOK_MEETING
                    else self._playbook.cancelled
                )
            else:
                line = self._playbook.cancelled
            yield SpeakText(clean_for_speech(line))
            return
        if validated is None:
            self._facts.escalate("callback offered", callback_requested=True)
            yield SpeakText(clean_for_speech(self._playbook.callback_confirmed))
            return
        if validated.meeting is not None and validated.meeting.email is None and self._facts.caller_email:
            validated = replace(validated, meeting=replace(validated.meeting, email=self._facts.caller_email))
        async for event in self._run_tool(validated, spoken_so_far=False):
            yield event

    async def _run_tool(
        self, validated: ValidatedCall, *, spoken_so_far: bool
    ) -> AsyncIterator[DialogueEvent]:
        self._phases.activate()
        outcome = await execute_tool(validated, self._tools_run)
        self._facts.tools_used.append({"tool": validated.tool.name, "ok": not outcome.execution.is_error})
        if outcome.activity is not None:
            yield outcome.activity
        if outcome.execution.spoken:
            spoken_so_far = True
            yield SpeakText(clean_for_speech(outcome.execution.spoken))
        for event in outcome.events:
            if isinstance(event, EndCall):
                if not spoken_so_far:
                    yield SpeakText(self.goodbye_line())
                self._finish(event.reason)
            elif validated.tool.system_type == "transfer_to_number":
                self._facts.escalate(
                    self._facts.escalation["reason"] if self._facts.escalation else "transfer",
                    transferred_to=getattr(event, "phone_number", None),
                )
                self._finish("transferred")
            yield event

    def _finish(self, reason: str) -> None:
        self._ended = True
        self._facts.end_reason = reason
        self._phases.complete()

    async def _goodbye(self, reason: str) -> AsyncIterator[DialogueEvent]:
        tool = self._setup.toolbox.by_system_type("end_call")
        if tool is not None:
            call = ToolCall(_new_request_id(), tool.name, {"reason": reason})
            async for event in self._run_tool(
                ValidatedCall(tool, call, {"reason": reason}), spoken_so_far=False
            ):
                yield event
        else:
            yield SpeakText(self.goodbye_line())
            self._finish(reason)
            yield EndCall(reason)

    async def _leave_voicemail(self) -> AsyncIterator[DialogueEvent]:
        self._facts.voicemail = True
        tool = self._voicemail_tool()
        assert tool is not None
        call = ToolCall(_new_request_id(), tool.name, {"reason": "voicemail greeting"})
        async for event in self._run_tool(
            ValidatedCall(tool, call, dict(call.arguments)), spoken_so_far=True
        ):
            yield event

    def _voicemail_tool(self) -> AgentTool | None:
        return self._setup.toolbox.by_system_type("voicemail_detection")

    async def _escalate(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        reason = "caller asked for a human" if turn.asks_for_human else "caller sentiment stayed negative"
        self._facts.escalate(reason)
        self._escalation.fired = True
        transfer = self._setup.toolbox.by_system_type("transfer_to_number")
        if transfer is None:
            self._pending = Pending(clean_for_speech(self._playbook.offer_callback))
            yield SpeakText(self._pending.question)
            return
        number = transfer_destinations(transfer.config)[0]
        call = ToolCall(_new_request_id(), transfer.name, {"transfer_number": number})
        validated = ValidatedCall(transfer, call, dict(call.arguments))
        if turn.asks_for_human:  # the caller's own request is the confirmation
            async for event in self._run_tool(validated, spoken_so_far=False):
                yield event
            return
        async for event in self._propose(validated, clean_for_speech(self._playbook.offer_transfer)):
            yield event

    async def _propose(self, validated: ValidatedCall, question: str) -> AsyncIterator[DialogueEvent]:
        self._pending = Pending(question, validated)
        self._phases.activate()
        yield ToolActivity(tool_call_record(validated, called=False))
        yield SpeakText(question)

    # ------------------------------------------------------------ LLM turns
    def _validate(self, call: ToolCall) -> ValidatedCall:
        if not call.id:
            call = replace(call, id=_new_request_id())
        booking = BookingContext(
            now=self._deps.clock(),
            default_timezone=self._default_timezone(),
            caller_name=self._facts.caller_name,
            caller_email=self._facts.caller_email,
            agent_id=self._setup.agent_id,
            conversation_id=self._setup.scope.get("system__conversation_id"),
        )
        return validate_call(call, self._setup.toolbox, booking)

    def _default_timezone(self) -> str:
        for name in ("timezone", "system__timezone"):
            value = self._setup.scope.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return self._deps.default_timezone

    async def _retrieve(self, turn: CallerTurn) -> list[ContextPassage]:
        wants_facts = (
            turn.intent is Intent.QUESTION
            or turn.objection in ("price", "competitor")
            or (turn.intent is Intent.OTHER and turn.word_count >= 5)
        )
        if not wants_facts or not self._setup.document_ids:
            return []
        try:
            return list(
                await self._deps.retrieve(turn.text, self._setup.document_ids, self._deps.retrieval_k)
            )
        except Exception:
            log.exception("knowledge retrieval failed; answering without context")
            return []

    def _request(self, turn: CallerTurn, context: list[ContextPassage]) -> LLMRequest:
        history = self._history[:-1] if self._history and self._history[-1].role == "user" else self._history
        notes = prompt_notes(self._phases.phase, self._next_question(), self._facts)
        prompt = assemble_prompt(
            PromptParts(
                system_prompt=self._setup.system_prompt,
                agent_name=self._setup.agent_name,
                phase=self._phases.phase.value,
                user_text=turn.text,
                history=history,
                context=context,
                notes=notes,
                window_tokens=self._deps.context_window_tokens,
                reserve_tokens=self._deps.max_output_tokens,
            )
        )
        hints = build_hints(
            turn,
            phase=self._phases.phase,
            facts=self._facts,
            playbook=self._playbook,
            next_question=self._next_question(),
            meeting_proposed=proposes_meeting(self._last_heard_agent),
            can_book=BOOK_MEETING in self._setup.toolbox,
            agent_name=self._setup.agent_name,
        )
        return LLMRequest(
            messages=prompt.messages,
            tools=self._setup.toolbox.specs,
            context=prompt.context,
            temperature=self._setup.temperature,
            max_tokens=self._setup.max_tokens,
            hints=hints,
        )

    def _next_question(self) -> str | None:
        if self._phases.phase not in (CallPhase.CALL_START, CallPhase.DISCOVERY):
            return None
        return next(
            (q for q in self._playbook.qualifying_questions if q not in self._facts.qualifying_asked), None
        )

    async def _llm_answer(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        context = await self._retrieve(turn)
        question = self._facts.add_question(turn.text) if turn.intent is Intent.QUESTION else None
        request = self._request(turn, context)
        speech = SpeechTextStream()
        spoken: list[str] = []
        calls: list[ValidatedCall] = []
        async for item in stream_llm_turn(self._deps.llm, request, self._validate):
            if isinstance(item, TextDelta):
                if piece := speech.feed(item.text):
                    spoken.append(piece)
                    yield SpeakText(piece)
            elif isinstance(item, RejectedCall):
                log.info("rejected %s tool call: %s", item.call.name, item.error)
                tool = self._setup.toolbox.get(item.call.name)
                yield ToolActivity(
                    raw_call_record(
                        item.call.id or _new_request_id(),
                        item.call.name,
                        item.call.arguments or item.call.raw_arguments,
                        tool.transcript_type if tool else "system",
                    ),
                    tool_result_record(item.call.id, item.call.name, item.error, is_error=True, called=False),
                )
            else:
                calls.append(item)
        if tail := speech.flush():
            spoken.append(tail)
            yield SpeakText(tail)
        if question is not None:
            record_answer(question, " ".join(spoken), [(p.source_id, p.text) for p in context])
        async for event in self._handle_calls(calls, request, spoken_so_far=bool(spoken)):
            yield event

    async def _handle_calls(
        self, calls: list[ValidatedCall], request: LLMRequest, *, spoken_so_far: bool
    ) -> AsyncIterator[DialogueEvent]:
        results: list[tuple[ValidatedCall, str, str]] = []
        for validated in calls:
            if self._ended:
                return
            if validated.tool.side_effecting:
                if self._pending is None:
                    async for event in self._propose(validated, confirmation_question(validated)):
                        yield event
                continue
            if validated.tool.system_type == "skip_turn":
                spoken_so_far = True  # saying nothing is the point
            if validated.tool.kind == "webhook":
                outcome = await execute_tool(validated, self._tools_run)
                self._facts.tools_used.append(
                    {"tool": validated.tool.name, "ok": not outcome.execution.is_error}
                )
                if outcome.activity is not None:
                    yield outcome.activity
                results.append((validated, outcome.execution.result_value, outcome.execution.spoken))
                continue
            async for event in self._run_tool(validated, spoken_so_far=spoken_so_far):
                yield event
        if results and not self._ended:
            async for piece in speak_tool_results(self._deps.llm, request, results, self._validate):
                yield SpeakText(piece)

    def _meeting_booked(self, meeting: MeetingRequest, result: dict[str, Any]) -> None:
        self._facts.meetings.append(
            {
                "starts_at": meeting.starts_at.isoformat(),
                "timezone": meeting.timezone,
                "when_text": meeting.when_text,
                "name": meeting.name,
                "email": meeting.email,
                "meeting_id": result.get("meeting_id"),
            }
        )
