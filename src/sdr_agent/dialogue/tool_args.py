"""Checks an LLM's tool call before anything runs: known tool, JSON arguments, JSON-schema valid, and
for book_meeting a day and time that resolve to a future moment. A call that fails is never executed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from sdr_agent.dialogue.meetings import MeetingRequest, find_timezone, resolve_when, valid_timezone
from sdr_agent.dialogue.tool_config import BOOK_MEETING, AgentTool, ToolBox
from sdr_agent.engines.base import ToolCall


class ToolArgumentError(ValueError):
    """The model's tool call cannot be executed; the message is fed back to the model."""


@dataclass(frozen=True, slots=True)
class ValidatedCall:
    tool: AgentTool
    call: ToolCall
    arguments: dict[str, Any]
    meeting: MeetingRequest | None = None


@dataclass(frozen=True, slots=True)
class BookingContext:
    now: datetime
    default_timezone: str
    caller_name: str | None = None
    caller_email: str | None = None
    agent_id: str | None = None
    conversation_id: str | None = None


def _arguments(call: ToolCall) -> dict[str, Any]:
    if call.arguments:
        return dict(call.arguments)
    raw = call.raw_arguments.strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolArgumentError(f"arguments for {call.name} are not valid JSON ({exc.msg})") from exc
    if not isinstance(parsed, dict):
        raise ToolArgumentError(f"arguments for {call.name} must be a JSON object")
    return parsed


def schema_errors(schema: dict[str, Any], arguments: dict[str, Any]) -> list[str]:
    try:
        validator = Draft202012Validator(schema)
    except SchemaError as exc:  # a broken tool definition must not crash the call
        return [f"the tool's parameter schema is invalid: {exc.message}"]
    errors = sorted(validator.iter_errors(arguments), key=lambda error: list(error.absolute_path))
    messages = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.absolute_path) or "arguments"
        messages.append(f"{where}: {error.message}")
    return messages


def _meeting(arguments: dict[str, Any], booking: BookingContext) -> MeetingRequest:
    when = str(arguments["when"]).strip()
    zone_arg = arguments.get("timezone")
    zone = valid_timezone(str(zone_arg)) if zone_arg else find_timezone(when) or booking.default_timezone
    if zone is None:
        raise ToolArgumentError(f"timezone: {zone_arg!r} is not a known time zone")
    starts_at = resolve_when(when, booking.now, zone)
    if starts_at is None:
        raise ToolArgumentError(
            f"when: {when!r} does not name a specific day and time; ask the caller for one"
        )
    if starts_at <= booking.now:
        raise ToolArgumentError(f"when: {when!r} is in the past; ask the caller for a future time")
    return MeetingRequest(
        starts_at=starts_at,
        timezone=zone,
        when_text=when,
        name=arguments.get("name") or booking.caller_name,
        email=arguments.get("email") or booking.caller_email,
        agent_id=booking.agent_id,
        conversation_id=booking.conversation_id,
    )


def validate_call(call: ToolCall, toolbox: ToolBox, booking: BookingContext) -> ValidatedCall:
    tool = toolbox.get(call.name)
    if tool is None:
        raise ToolArgumentError(f"there is no tool named {call.name!r}")
    arguments = _arguments(call)
    problems = schema_errors(tool.parameters, arguments)
    if problems:
        raise ToolArgumentError(f"invalid arguments for {call.name}: " + "; ".join(problems))
    meeting = _meeting(arguments, booking) if tool.name == BOOK_MEETING and tool.kind == "builtin" else None
    return ValidatedCall(tool, call, arguments, meeting)
