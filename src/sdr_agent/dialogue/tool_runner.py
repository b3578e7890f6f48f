"""Executes validated tool calls and writes them down in ElevenLabs transcript shapes."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from sdr_agent.dialogue.base import DialogueEvent, EndCall, SendDigits, ToolActivity, TransferCall
from sdr_agent.dialogue.deps import ClientToolRunner
from sdr_agent.dialogue.meetings import MeetingRequest, describe_slot
from sdr_agent.dialogue.playbook import Playbook
from sdr_agent.dialogue.tool_args import ValidatedCall
from sdr_agent.dialogue.tool_config import transfer_destinations
from sdr_agent.dialogue.variables import redact, substitute
from sdr_agent.dialogue.webhook_tool import ToolExecution, run_webhook

log = logging.getLogger(__name__)

MeetingBooker = Callable[[MeetingRequest], Awaitable[dict[str, Any]]]


def tool_call_record(validated: ValidatedCall, *, called: bool) -> dict[str, Any]:
    return {
        "request_id": validated.call.id,
        "tool_name": validated.tool.name,
        "params_as_json": json.dumps(validated.arguments, sort_keys=True, default=str),
        "tool_has_been_called": called,
        "type": validated.tool.transcript_type,
    }


def raw_call_record(
    request_id: str, tool_name: str, params: Mapping[str, Any] | str, tool_type: str
) -> dict[str, Any]:
    """A call that never reached execution (rejected arguments, unknown tool)."""
    params_json = params if isinstance(params, str) else json.dumps(params, sort_keys=True, default=str)
    return {
        "request_id": request_id,
        "tool_name": tool_name,
        "params_as_json": params_json,
        "tool_has_been_called": False,
        "type": tool_type,
    }


def tool_result_record(
    request_id: str, tool_name: str, result_value: str, *, is_error: bool, called: bool = True
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "tool_name": tool_name,
        "result_value": result_value,
        "is_error": is_error,
        "tool_has_been_called": called,
    }


@dataclass
class ToolRunContext:
    values: Callable[[], dict[str, Any]]  # variable values at execution time
    secrets: list[str]
    http: httpx.AsyncClient | None
    book_meeting: MeetingBooker | None
    playbook: Playbook
    on_meeting: Callable[[MeetingRequest, dict[str, Any]], None] = lambda request, result: None
    voicemail_message: str = ""  # the agent's message (variables filled) when the tool has none of its own
    client_tools: ClientToolRunner | None = None


@dataclass
class ToolOutcome:
    execution: ToolExecution
    events: list[DialogueEvent] = field(default_factory=list)  # after the spoken result (hang-up, transfer)
    activity: ToolActivity | None = None


async def _book(validated: ValidatedCall, ctx: ToolRunContext) -> ToolExecution:
    meeting = validated.meeting
    if meeting is None or ctx.book_meeting is None:
        return ToolExecution("meeting booking is not available", True, ctx.playbook.booking_failed)
    try:
        result = await ctx.book_meeting(meeting)
    except Exception as exc:
        log.exception("book_meeting failed")
        return ToolExecution(f"booking failed: {type(exc).__name__}", True, ctx.playbook.booking_failed)
    ctx.on_meeting(meeting, dict(result))
    spoken = f"You're all set for {describe_slot(meeting.starts_at)}."
    if meeting.email:
        spoken += f" I'll send the invite to {meeting.email}."
    value = json.dumps(
        {
            "booked": True,
            "starts_at": meeting.starts_at.isoformat(),
            "timezone": meeting.timezone,
            **{k: v for k, v in result.items() if k != "starts_at"},
        },
        default=str,
    )
    return ToolExecution(value, False, spoken, result)


def _system(validated: ValidatedCall, ctx: ToolRunContext) -> tuple[ToolExecution, list[DialogueEvent]]:
    kind = validated.tool.system_type
    args = validated.arguments
    if kind == "end_call":
        return ToolExecution("call ended", False, ""), [EndCall(str(args.get("reason") or "end_call tool"))]
    if kind == "transfer_to_number":
        numbers = transfer_destinations(validated.tool.config)
        number = str(args.get("transfer_number") or numbers[0])
        return (
            ToolExecution(f"transferring to {number}", False, ctx.playbook.handoff),
            [TransferCall(number)],
        )
    if kind == "play_keypad_touch_tone":
        digits = str(args["dtmf_tones"])
        return ToolExecution(f"played {digits}", False, ""), [SendDigits(digits)]
    if kind == "voicemail_detection":
        message = str((validated.tool.config.get("params") or {}).get("voicemail_message") or "")
        # A model that calls the tool itself leaves the agent's message too, never silence.
        spoken = substitute(message, ctx.values()) if message else ctx.voicemail_message
        return ToolExecution("voicemail detected", False, spoken), [EndCall("voicemail detected")]
    return ToolExecution("skipped turn", False, ""), []


async def _client(validated: ValidatedCall, ctx: ToolRunContext) -> ToolExecution:
    if ctx.client_tools is None:
        return ToolExecution("no client can run this tool", True, ctx.playbook.tool_failed)
    expects_response = bool(validated.tool.config.get("expects_response", True))
    try:
        reply = await ctx.client_tools(
            validated.tool.name, validated.call.id, dict(validated.arguments), expects_response
        )
    except Exception as exc:
        log.exception("client tool %s failed", validated.tool.name)
        return ToolExecution(f"client tool failed: {type(exc).__name__}", True, ctx.playbook.tool_failed)
    return ToolExecution(reply.result, reply.is_error, ctx.playbook.tool_failed if reply.is_error else "")


async def execute_tool(validated: ValidatedCall, ctx: ToolRunContext) -> ToolOutcome:
    events: list[DialogueEvent] = []
    if validated.tool.kind == "builtin":
        execution = await _book(validated, ctx)
    elif validated.tool.kind == "webhook":
        execution = await run_webhook(
            validated.tool, validated.arguments, ctx.values(), ctx.http, ctx.secrets
        )
        if execution.is_error:
            execution = ToolExecution(execution.result_value, True, ctx.playbook.tool_failed, execution.data)
    elif validated.tool.kind == "client":
        execution = await _client(validated, ctx)
    else:
        execution, events = _system(validated, ctx)
    result_value = redact(execution.result_value, ctx.secrets)
    activity = ToolActivity(
        tool_call_record(validated, called=True),
        tool_result_record(validated.call.id, validated.tool.name, result_value, is_error=execution.is_error),
    )
    return ToolOutcome(execution, events, activity)


def _spoken_when(meeting: MeetingRequest) -> str:
    looks_iso = bool(re.match(r"^\d{4}-\d{2}-\d{2}", meeting.when_text))
    return describe_slot(meeting.starts_at) if looks_iso else meeting.when_text


def confirmation_question(validated: ValidatedCall) -> str:
    """What the agent asks before a side-effecting tool runs."""
    if validated.meeting is not None:
        return f"Just to confirm, {_spoken_when(validated.meeting)}, shall I book it?"
    if validated.tool.system_type == "transfer_to_number":
        return "Just to confirm, would you like me to transfer you to a colleague now?"
    action = validated.tool.name.replace("_", " ").replace("-", " ").strip()
    return f"Just to confirm, you'd like me to {action}. Shall I go ahead?"
