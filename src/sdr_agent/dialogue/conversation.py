"""``AgentDialogue``: one call's dialogue. Each caller turn is read (intent, signals, slot), the compliance
rules get the first word (opt-out, "are you a robot?", hostility, voicemail, ...), then the composer plans the
reply, the LLM phrases it with retrieved knowledge, and every sentence passes the guardrails before it is
spoken. Tool calls go to ``CallActions``; the history keeps what the caller heard. The call's configuration,
``DialogueSetup``, lives in ``dialogue_setup``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from sdr_agent.dialogue.actions import CallActions, ToolResult, new_request_id, speak
from sdr_agent.dialogue.base import DialogueEvent, SpeakText, ToolActivity, TurnAnnotations
from sdr_agent.dialogue.caller_facts import proposes_meeting
from sdr_agent.dialogue.compliance import CallRules, ComplianceDecision, ComplianceMove, OptOut
from sdr_agent.dialogue.composer import ReplyComposer
from sdr_agent.dialogue.composer_base import ComposeContext
from sdr_agent.dialogue.dialogue_setup import DialogueSetup, default_timezone, rejected_activity
from sdr_agent.dialogue.escalation import EscalationMonitor, score_sentiment
from sdr_agent.dialogue.facts import CallFacts, record_answer
from sdr_agent.dialogue.guardrails import SaidLog, SpokenGuard
from sdr_agent.dialogue.hints import prompt_notes
from sdr_agent.dialogue.intents import Intent, IntentClassifier
from sdr_agent.dialogue.llm_turn import RejectedCall, speak_tool_results, stream_llm_turn
from sdr_agent.dialogue.lookup import KnowledgeLookup
from sdr_agent.dialogue.phases import CallPhase, PhaseTracker
from sdr_agent.dialogue.prompt import HistoryTurn, PromptParts, assemble_prompt
from sdr_agent.dialogue.sales_script import FOLLOW_UPS, KEEP_GOING, NUMBER_FOLLOW_UPS
from sdr_agent.dialogue.signals import example_index, read_signals
from sdr_agent.dialogue.speech_text import SpeechTextStream, clean_for_speech
from sdr_agent.dialogue.tool_args import BookingContext, ValidatedCall, validate_call
from sdr_agent.dialogue.tool_config import BOOK_MEETING
from sdr_agent.dialogue.tool_runner import ToolRunContext
from sdr_agent.dialogue.turn_analysis import CallerTurn, analyze_turn
from sdr_agent.engines.base import ContextPassage, LLMRequest, TextDelta, ToolCall, TurnBrief

log = logging.getLogger(__name__)
REPROMPTS = (
    "Sorry, are you still there?",
    "Hello, can you hear me okay?",
    "I think I lost you for a second.",
)
VOICEMAIL_TURNS = 1  # only the first thing said on the line can be an answering machine


class AgentDialogue:
    def __init__(self, setup: DialogueSetup) -> None:
        self._setup = setup
        self._deps = setup.deps
        self._playbook = setup.playbook
        self._classifier = IntentClassifier()  # patterns, on the event loop
        self._embedding_classifier = IntentClassifier(setup.deps.embedder) if setup.deps.embedder else None
        self._phases = PhaseTracker()
        self._facts = CallFacts()
        self._escalation = EscalationMonitor()
        self._history: list[HistoryTurn] = []
        self._annotations = TurnAnnotations(phase=CallPhase.CALL_START.value)
        self._last_heard_agent = ""
        self._caller_words: list[str] = []
        self._lookup = KnowledgeLookup(setup.deps, setup.document_ids)
        self._said = SaidLog(exempt=(self.opening_line(), setup.playbook.goodbye))
        self._composer = ReplyComposer(
            setup.persona, setup.script, self._said, setup.deps.embedder, opening=self.opening_line()
        )
        self._rules = CallRules(
            setup.persona,
            self._said,
            setup.deps.languages | setup.languages,
            setup.voicemail_message,
            setup.max_duration_s,
        )
        self._started = setup.deps.clock()
        self.opt_out: OptOut | None = None
        self.guard_events: list[Any] = []
        self._actions = CallActions(
            toolbox=setup.toolbox,
            playbook=setup.playbook,
            facts=self._facts,
            phases=self._phases,
            run=ToolRunContext(
                values=setup.scope.current,
                secrets=setup.scope.secret_values(),
                http=setup.deps.http,
                book_meeting=setup.deps.book_meeting,
                playbook=setup.playbook,
                voicemail_message=setup.voicemail_message,
                client_tools=setup.deps.client_tools,
            ),
        )

    # ------------------------------------------------------------ Dialogue protocol
    def opening_line(self) -> str:
        line = self._setup.first_message
        if self._setup.disclose_ai_first and line and " AI " not in f" {line} ":
            from sdr_agent.dialogue.compliance import first_message_disclosure

            line = f"{line.rstrip()} {first_message_disclosure(self._setup.persona)}"
        return clean_for_speech(line)

    def respond(self, user_text: str) -> AsyncIterator[DialogueEvent]:
        """Reads the turn at once (``annotate_user_turn`` is ready before iterating); the answer streams."""
        turn = analyze_turn(user_text, self._classifier, score_sentiment(user_text))
        facts = self._facts
        facts.caller_name = turn.name or facts.caller_name
        facts.caller_email = turn.email or facts.caller_email
        self._caller_words.append(turn.text)
        voicemail_window = self._phases.caller_turns < VOICEMAIL_TURNS
        self._phases.on_caller_turn(turn.intent)
        if turn.text:
            self._history.append(HistoryTurn("user", turn.text))
        self._annotate(turn)
        return self._answer(turn, voicemail_window=voicemail_window)

    def prepare(self, user_text: str) -> None:
        """Speculative work for a caller turn that may end with these words (the voice layer calls it at the
        first pause): the knowledge query only. Nothing the call remembers changes and no tool runs."""
        self._lookup.prefetch(user_text)

    def annotate_user_turn(self) -> TurnAnnotations:
        return self._annotations

    def record_agent_turn(self, heard_text: str, interrupted: bool) -> None:
        heard = " ".join(heard_text.split())
        if heard:
            self._history.append(HistoryTurn("assistant", heard, interrupted))
            self._last_heard_agent = heard
        self._actions.heard(heard, interrupted)

    def reprompt_line(self) -> str:
        return clean_for_speech(self._said.fresh(REPROMPTS) or self._playbook.reprompt)

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

    @property
    def facts(self) -> CallFacts:
        return self._facts

    def state_snapshot(self) -> dict[str, Any]:
        self._facts.qualifying_asked = list(self._composer.state.asked)
        snapshot = self._facts.snapshot(self.phase)
        if self.opt_out is not None:
            snapshot["opt_out"] = self.opt_out.as_metadata()
        if self._composer.state.callback_when:
            snapshot["callback_requested"] = True
            snapshot["callback_when"] = self._composer.state.callback_when
        return snapshot

    # ------------------------------------------------------------ routing
    def _annotate(self, turn: CallerTurn) -> None:
        self._annotations = TurnAnnotations(
            intent=turn.intent.value,
            phase=self._phases.phase.value,
            sentiment=turn.sentiment,
            extra=turn.annotations(),
        )

    async def _refine(self, turn: CallerTurn) -> CallerTurn:
        """The embedder's second opinion where the patterns found nothing — off the event loop."""
        embedder = self._deps.embedder
        if embedder is None or not turn.text:
            return turn
        if turn.signals.signal is None and turn.signals.objection is None:
            index = await asyncio.to_thread(example_index, embedder)
            turn = turn.with_signals(await asyncio.to_thread(read_signals, turn.text, index))
        if turn.intent is Intent.OTHER and self._embedding_classifier is not None:
            result = await asyncio.to_thread(self._embedding_classifier.classify, turn.text)
            turn = replace(turn, intent=result.intent, polarity=result.polarity or turn.polarity)
        self._annotate(turn)
        return turn

    def _elapsed(self) -> float:
        return max(0.0, (self._deps.clock() - self._started).total_seconds())

    async def _answer(self, turn: CallerTurn, *, voicemail_window: bool) -> AsyncIterator[DialogueEvent]:
        actions = self._actions
        if actions.ended:
            return
        turn = await self._refine(turn)
        if turn.objection:
            self._facts.add_objection(turn.objection.value, turn.text)
        self._facts.intents.append(turn.intent.value)
        negative_streak = self._escalation.observe(turn.sentiment, turn.text)
        decision = self._rules.decide(
            turn.signals,
            turn.text,
            elapsed_s=self._elapsed(),
            detect_voicemail=voicemail_window
            and (self._setup.detect_voicemail or actions.has_voicemail_tool),
        )
        if not turn.text:
            moves: AsyncIterator[DialogueEvent] = _single(speak(self.reprompt_line()))
        elif decision is not None:
            moves = self._comply(decision)
        elif actions.decides_pending(turn):
            moves = actions.resolve_pending(turn)
        elif turn.asks_for_human or negative_streak:
            self._escalation.fired = True
            moves = actions.escalate(turn)
        elif turn.intent is Intent.GOODBYE:
            moves = actions.goodbye("caller said goodbye")
        else:
            moves = self._llm_answer(turn)
        answered = False
        try:
            async for event in moves:
                answered = True
                if isinstance(event, SpeakText):
                    self._said.add(event.text)
                yield event
            if not answered and not actions.ended:
                # Every line the reply would be made of was said already this call (or the guard removed
                # them all): never answer a caller with silence.
                log.info("nothing fresh to say to %r; keeping the conversation going", turn.text)
                line = self._said.fresh(KEEP_GOING) or KEEP_GOING[len(self._history) % len(KEEP_GOING)]
                self._said.add(line)
                yield speak(line)
        finally:
            await _close(moves)
            self._phases.after_turn()

    async def _comply(self, decision: ComplianceDecision) -> AsyncIterator[DialogueEvent]:
        if decision.move is ComplianceMove.OPT_OUT:
            self.opt_out = OptOut(decision.phrase, self._elapsed())
            await self._write_metadata({"opt_out": self.opt_out.as_metadata()})
        if decision.move is ComplianceMove.VOICEMAIL:
            self._phases.complete()
            async for event in self._actions.leave_voicemail(decision.lines[0]):
                yield event
            return
        for line in decision.lines:
            if line:
                yield speak(line)
        if decision.ends_call:
            async for event in self._actions.end_quietly(decision.move.value):
                yield event

    async def _write_metadata(self, patch: dict[str, Any]) -> None:
        writer = self._deps.write_metadata
        if writer is None:
            return
        try:
            await writer(patch)
        except Exception:
            log.exception("could not write %s to the conversation record", sorted(patch))

    # ------------------------------------------------------------ LLM turns
    def _validate(self, call: ToolCall) -> ValidatedCall:
        if not call.id:
            call = replace(call, id=new_request_id())
        booking = BookingContext(
            now=self._deps.clock(),
            default_timezone=default_timezone(self._setup),
            caller_name=self._facts.caller_name,
            caller_email=self._facts.caller_email,
            agent_id=self._setup.agent_id,
            conversation_id=self._setup.scope.get("system__conversation_id"),
        )
        return validate_call(call, self._setup.toolbox, booking)

    def _compose(self, turn: CallerTurn, context: list[ContextPassage]) -> TurnBrief:
        ctx = ComposeContext(
            passages=context,
            first_turn=self._phases.caller_turns == 1,
            discovery=self._phases.phase in (CallPhase.CALL_START, CallPhase.DISCOVERY),
            meeting_proposed=proposes_meeting(self._last_heard_agent),
            can_book=BOOK_MEETING in self._setup.toolbox,
            booked=bool(self._facts.meetings),
            caller_name=self._facts.caller_name,
            caller_email=self._facts.caller_email,
            objection_count=self._facts.objection_count(turn.objection.value) if turn.objection else 0,
            question=self._lookup.question_text(turn),
        )
        return self._composer.compose(turn, turn.signals, ctx)

    def _request(self, turn: CallerTurn, context: list[ContextPassage], brief: TurnBrief) -> LLMRequest:
        history = self._history[:-1] if self._history and self._history[-1].role == "user" else self._history
        prompt = assemble_prompt(
            PromptParts(
                system_prompt=self._setup.system_prompt,
                agent_name=self._setup.agent_name,
                phase=self._phases.phase.value,
                user_text=turn.text,
                history=history,
                context=context,
                notes=prompt_notes(self._setup.persona, brief, self._facts),
                window_tokens=self._deps.context_window_tokens,
                reserve_tokens=self._deps.max_output_tokens,
            )
        )
        return LLMRequest(
            messages=prompt.messages,
            tools=self._setup.toolbox.specs,
            context=prompt.context,
            temperature=self._setup.temperature,
            max_tokens=self._setup.max_tokens,
            brief=brief,
        )

    def _guard(self, context: list[ContextPassage], extra: tuple[str, ...] = ()) -> SpokenGuard:
        from sdr_agent.dialogue.compliance import disclosure_lines

        sources = (
            self._setup.system_prompt,
            self._setup.first_message,
            *(p.text for p in context),
            *self._caller_words,
            *extra,
        )
        return SpokenGuard(
            sources, self._said, NUMBER_FOLLOW_UPS + FOLLOW_UPS, disclosure_lines(self._setup.persona)[0]
        )

    def _rejected(self, item: RejectedCall) -> ToolActivity:
        log.info("rejected %s tool call: %s", item.call.name, item.error)
        return rejected_activity(self._setup.toolbox, item)

    async def _llm_answer(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        context = await self._lookup.retrieve(turn)
        slot_offer = turn.slot is not None and turn.slot.complete  # "how about Tuesday at 3?" is no question
        question = (
            self._facts.add_question(turn.text) if turn.intent is Intent.QUESTION and not slot_offer else None
        )
        brief = await asyncio.to_thread(self._compose, turn, context)
        self._lookup.answered(turn)
        request = self._request(turn, context, brief)
        speech, guard = SpeechTextStream(), self._guard(context)
        spoken: list[str] = []
        calls: list[ValidatedCall] = []
        async with contextlib.aclosing(stream_llm_turn(self._deps.llm, request, self._validate)) as items:
            async for item in items:
                if isinstance(item, TextDelta):
                    if piece := guard.feed(speech.feed(item.text)):
                        spoken.append(piece)
                        yield SpeakText(piece)
                elif isinstance(item, RejectedCall):
                    yield self._rejected(item)
                else:
                    calls.append(item)
        if tail := guard.feed(speech.flush()) + guard.flush():
            spoken.append(tail)
            yield SpeakText(tail)
        # The model said nothing usable (or only what the guard removed): say the dialogue's own plan.
        if not spoken and not calls and brief.draft:
            plan = guard.feed(clean_for_speech(" ".join(brief.draft)) + " ") + guard.flush()
            if plan:
                spoken.append(plan)
                yield SpeakText(plan)
        self.guard_events.extend(guard.events)
        if question is not None:
            record_answer(question, " ".join(spoken), [(p.source_id, p.text) for p in context])
        results: list[ToolResult] = []
        async for event in self._actions.handle_calls(calls, results, spoken_so_far=bool(spoken)):
            yield event
        if results and not self._actions.ended:
            summaries = tuple(value for _, value, _ in results) + tuple(s for _, _, s in results)
            result_guard = self._guard(context, summaries)
            spoken_results = speak_tool_results(self._deps.llm, request, results, self._validate)
            async with contextlib.aclosing(spoken_results) as pieces:
                async for piece in pieces:
                    if safe := result_guard.feed(piece):
                        yield SpeakText(safe)
            if tail := result_guard.flush():
                yield SpeakText(tail)


async def _single(event: DialogueEvent) -> AsyncIterator[DialogueEvent]:
    yield event


async def _close(events: AsyncIterator[DialogueEvent]) -> None:
    closer = getattr(events, "aclose", None)
    if closer is not None:
        await closer()
