"""What the agent does besides talking, for one call: runs tools, asks before side-effecting ones (and
runs them on the caller's yes), escalates to a human, leaves a voicemail, hangs up."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from sdr_agent.dialogue.base import DialogueEvent, EndCall, SpeakText, ToolActivity, TransferCall
from sdr_agent.dialogue.facts import CallFacts
from sdr_agent.dialogue.intents import Intent
from sdr_agent.dialogue.meetings import MeetingRequest
from sdr_agent.dialogue.phases import PhaseTracker
from sdr_agent.dialogue.playbook import Playbook
from sdr_agent.dialogue.speech_text import clean_for_speech
from sdr_agent.dialogue.tool_args import ValidatedCall
from sdr_agent.dialogue.tool_config import BOOK_MEETING, ToolBox, transfer_destinations
from sdr_agent.dialogue.tool_runner import (
    ToolRunContext,
    confirmation_question,
    execute_tool,
    tool_call_record,
    tool_result_record,
)
from sdr_agent.dialogue.turn_analysis import CallerTurn
from sdr_agent.engines.base import ToolCall

# (validated call, result value, spoken summary) of a tool whose result the model should phrase
ToolResult = tuple[ValidatedCall, str, str]


def new_request_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


def speak(text: str) -> SpeakText:
    """A whole line to say, cleaned, ending in a space so a following fragment starts a new word."""
    return SpeakText(clean_for_speech(text) + " ")


@dataclass(slots=True)
class Pending:
    """A side-effecting action waiting for the caller's yes (``validated`` None = a call-back offer)."""

    question: str
    validated: ValidatedCall | None = None


class CallActions:
    def __init__(
        self,
        *,
        toolbox: ToolBox,
        playbook: Playbook,
        facts: CallFacts,
        phases: PhaseTracker,
        run: ToolRunContext,
    ) -> None:
        self.toolbox = toolbox
        self.playbook = playbook
        self.facts = facts
        self.phases = phases
        self.run_context = run
        self.pending: Pending | None = None
        self.ended = False
        run.on_meeting = self._meeting_booked

    # ------------------------------------------------------------ confirmations
    def decides_pending(self, turn: CallerTurn) -> bool:
        """Does this turn answer the open confirmation? Clears it when the caller moved on."""
        if self.pending is None or turn.intent is Intent.QUESTION:
            return False  # a question is answered first; the confirmation stays open
        if turn.polarity is None or turn.intent is Intent.GOODBYE:
            self.pending = None
            return False
        return True

    def heard(self, heard_text: str, interrupted: bool) -> None:
        if interrupted and self.pending is not None and self.pending.question.strip() not in heard_text:
            self.pending = None  # the caller never heard the whole confirmation question

    async def propose(self, validated: ValidatedCall, question: str) -> AsyncIterator[DialogueEvent]:
        line = speak(question)
        self.pending = Pending(line.text, validated)
        self.phases.activate()
        yield ToolActivity(tool_call_record(validated, called=False))
        yield line

    async def resolve_pending(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        validated = pending.validated
        if turn.polarity == "no":
            line = self.playbook.cancelled
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
                if validated.tool.name == BOOK_MEETING:
                    line = self.playbook.cancelled_booking
            yield speak(line)
            return
        if validated is None:
            self.facts.escalate("callback offered", callback_requested=True)
            yield speak(self.playbook.callback_confirmed)
            return
        meeting = validated.meeting
        if meeting is not None and meeting.email is None and self.facts.caller_email:
            validated = replace(validated, meeting=replace(meeting, email=self.facts.caller_email))
        async for event in self.run(validated, spoken_so_far=False):
            yield event

    # ------------------------------------------------------------ running tools
    async def run(self, validated: ValidatedCall, *, spoken_so_far: bool) -> AsyncIterator[DialogueEvent]:
        self.phases.activate()
        outcome = await execute_tool(validated, self.run_context)
        self.facts.tools_used.append({"tool": validated.tool.name, "ok": not outcome.execution.is_error})
        if outcome.activity is not None:
            yield outcome.activity
        if outcome.execution.spoken:
            spoken_so_far = True
            yield speak(outcome.execution.spoken)
        for event in outcome.events:
            if isinstance(event, EndCall):
                if not spoken_so_far:
                    yield speak(self.playbook.goodbye)
                self.finish(event.reason)
            elif isinstance(event, TransferCall):
                reason = self.facts.escalation["reason"] if self.facts.escalation else "transfer requested"
                self.facts.escalate(reason, transferred_to=event.phone_number)
                self.finish("transferred")
            yield event

    async def handle_calls(
        self, calls: list[ValidatedCall], results: list[ToolResult], *, spoken_so_far: bool
    ) -> AsyncIterator[DialogueEvent]:
        """The model's validated tool calls, in order. Side-effecting ones become a confirmation question
        (one per turn); webhook results are collected into ``results`` for the model to phrase."""
        for validated in calls:
            if self.ended:
                return
            if validated.tool.side_effecting:
                if self.pending is None:
                    async for event in self.propose(validated, confirmation_question(validated)):
                        yield event
                continue
            if validated.tool.system_type == "skip_turn":
                spoken_so_far = True  # saying nothing is the point
            if validated.tool.kind in ("webhook", "client"):  # results the model phrases for the caller
                outcome = await execute_tool(validated, self.run_context)
                ok = not outcome.execution.is_error
                self.facts.tools_used.append({"tool": validated.tool.name, "ok": ok})
                if outcome.activity is not None:
                    yield outcome.activity
                results.append((validated, outcome.execution.result_value, outcome.execution.spoken))
                continue
            async for event in self.run(validated, spoken_so_far=spoken_so_far):
                yield event

    def finish(self, reason: str) -> None:
        self.ended = True
        self.facts.end_reason = reason
        self.phases.complete()

    def _system_call(self, system_type: str, arguments: dict[str, Any]) -> ValidatedCall | None:
        tool = self.toolbox.by_system_type(system_type)
        if tool is None:
            return None
        return ValidatedCall(tool, ToolCall(new_request_id(), tool.name, arguments), arguments)

    # ------------------------------------------------------------ call-level moves
    async def goodbye(self, reason: str) -> AsyncIterator[DialogueEvent]:
        validated = self._system_call("end_call", {"reason": reason})
        if validated is None:
            yield speak(self.playbook.goodbye)
            self.finish(reason)
            yield EndCall(reason)
            return
        async for event in self.run(validated, spoken_so_far=False):
            yield event

    @property
    def has_voicemail_tool(self) -> bool:
        return self.toolbox.by_system_type("voicemail_detection") is not None

    async def end_quietly(self, reason: str) -> AsyncIterator[DialogueEvent]:
        """Hang up after a closing line the dialogue already said (no second goodbye)."""
        validated = self._system_call("end_call", {"reason": reason})
        if validated is None:
            self.finish(reason)
            yield EndCall(reason)
            return
        async for event in self.run(validated, spoken_so_far=True):
            yield event

    async def leave_voicemail(self, message: str) -> AsyncIterator[DialogueEvent]:
        """Say the agent's voicemail message, record the voicemail tool (when configured) and hang up."""
        self.facts.voicemail = True
        yield speak(message)
        validated = self._system_call("voicemail_detection", {"reason": "voicemail greeting"})
        if validated is None:
            async for event in self.end_quietly("voicemail detected"):
                yield event
            return
        outcome = await execute_tool(validated, self.run_context)
        self.facts.tools_used.append({"tool": validated.tool.name, "ok": True})
        if outcome.activity is not None:
            yield outcome.activity
        self.finish("voicemail detected")
        yield EndCall("voicemail detected")

    async def escalate(self, turn: CallerTurn) -> AsyncIterator[DialogueEvent]:
        reason = "caller asked for a human" if turn.asks_for_human else "caller sentiment stayed negative"
        self.facts.escalate(reason)
        transfer = self.toolbox.by_system_type("transfer_to_number")
        if transfer is None:
            line = speak(self.playbook.offer_callback)
            self.pending = Pending(line.text)
            yield line
            return
        number = transfer_destinations(transfer.config)[0]
        validated = self._system_call("transfer_to_number", {"transfer_number": number})
        if validated is None:
            return
        if turn.asks_for_human:  # the caller's own request is the confirmation
            async for event in self.run(validated, spoken_so_far=False):
                yield event
            return
        async for event in self.propose(validated, self.playbook.offer_transfer):
            yield event

    def _meeting_booked(self, meeting: MeetingRequest, result: dict[str, Any]) -> None:
        self.facts.meetings.append(
            {
                "starts_at": meeting.starts_at.isoformat(),
                "timezone": meeting.timezone,
                "when_text": meeting.when_text,
                "name": meeting.name,
                "email": meeting.email,
                "meeting_id": result.get("meeting_id"),
            }
        )
