"""The agent's tools, read from ElevenLabs-shaped definitions (protocols.md §6.9) into one toolbox.

Sources: ``conversation_config.agent.prompt.tools`` (inline list), ``prompt.built_in_tools`` (one slot per
system tool), tool configs resolved from ``tool_ids`` by the caller, and the built-in ``book_meeting``.
``end_call`` is always available. Client and MCP tools cannot run on a phone line and are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdr_agent.engines.base import ToolSpec

log = logging.getLogger(__name__)

SYSTEM_TOOL_TYPES = (
    "end_call",
    "transfer_to_number",
    "skip_turn",
    "play_keypad_touch_tone",
    "voicemail_detection",
)
SIDE_EFFECT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BOOK_MEETING = "book_meeting"
_SCHEMA_KEYS = frozenset(
    {
        "type",
        "description",
        "enum",
        "items",
        "properties",
        "required",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "default",
        "anyOf",
        "oneOf",
        "additionalProperties",
    }
)

_REASON = {"reason": {"type": "string", "description": "Why, in a few words."}}
_SYSTEM_DESCRIPTIONS = {
    "end_call": (
        "End the call after saying goodbye, when the conversation is over or the caller asks to hang up."
    ),
    "transfer_to_number": "Transfer the caller to a human colleague by phone.",
    "skip_turn": "Say nothing this turn, when the caller asks you to wait a moment.",
    "play_keypad_touch_tone": "Press phone keypad keys (DTMF), for example to navigate a phone menu.",
    "voicemail_detection": "Call this when the call reached a voicemail greeting instead of a person.",
}
BOOK_MEETING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "when": {
            "type": "string",
            "minLength": 2,
            "description": "Day and time of the meeting in the caller's own words, or ISO 8601.",
        },
        "timezone": {"type": "string", "description": "Caller's time zone (IANA name or e.g. 'Eastern')."},
        "name": {"type": "string", "description": "Attendee name, if the caller gave it."},
        "email": {
            "type": "string",
            "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            "description": "Attendee email, if the caller gave it.",
        },
    },
    "required": ["when"],
}


@dataclass(frozen=True, slots=True)
class WebhookParam:
    name: str
    location: str  # path | query | body
    constant: Any = None
    dynamic_variable: str | None = None


@dataclass(frozen=True, slots=True)
class AgentTool:
    name: str
    kind: str  # system | webhook | builtin
    description: str
    parameters: dict[str, Any]
    side_effecting: bool = False
    system_type: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    webhook_params: tuple[WebhookParam, ...] = ()

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    @property
    def transcript_type(self) -> str:
        return self.kind if self.kind in ("webhook", "client") else "system"


def clean_schema(schema: Any) -> Any:
    """A JSON schema an LLM and ``jsonschema`` both understand (ElevenLabs extras such as
    ``dynamic_variable`` and ``value_type`` dropped)."""
    if isinstance(schema, list):
        return [clean_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, Mapping):
            cleaned[key] = {name: clean_schema(prop) for name, prop in value.items()}
        else:
            cleaned[key] = clean_schema(value)
    return cleaned


def transfer_destinations(config: Mapping[str, Any]) -> list[str]:
    params = config.get("params") or {}
    numbers: list[str] = []
    for transfer in params.get("transfers") or []:
        if not isinstance(transfer, Mapping):
            continue
        destination = transfer.get("transfer_destination") or {}
        number = destination.get("phone_number") if isinstance(destination, Mapping) else None
        number = number or transfer.get("phone_number")
        if isinstance(number, str) and number.strip():
            numbers.append(number.strip())
    return numbers


def _system_tool(system_type: str, config: Mapping[str, Any]) -> AgentTool | None:
    name = str(config.get("name") or system_type)
    description = str(config.get("description") or _SYSTEM_DESCRIPTIONS[system_type])
    parameters: dict[str, Any] = {"type": "object", "properties": dict(_REASON)}
    side_effecting = False
    if system_type == "transfer_to_number":
        numbers = transfer_destinations(config)
        if not numbers:
            log.warning("transfer_to_number tool %r has no phone destination; left out", name)
            return None
        parameters["properties"]["transfer_number"] = {
            "type": "string",
            "enum": numbers,
            "description": "Number to transfer to.",
        }
        if len(numbers) > 1:
            parameters["required"] = ["transfer_number"]
        side_effecting = True
    elif system_type == "play_keypad_touch_tone":
        parameters["properties"]["dtmf_tones"] = {
            "type": "string",
            "pattern": r"^[0-9*#wW]{1,32}$",
            "description": "Keys to press: digits, * and #.",
        }
        parameters["required"] = ["dtmf_tones"]
    return AgentTool(name, "system", description, parameters, side_effecting, system_type, config)


def _webhook_tool(config: Mapping[str, Any]) -> AgentTool | None:
    name = config.get("name")
    schema = config.get("api_schema")
    if not isinstance(name, str) or not name or not isinstance(schema, Mapping) or not schema.get("url"):
        log.warning("webhook tool without a name or api_schema.url left out")
        return None
    properties: dict[str, Any] = {}
    required: list[str] = []
    params: list[WebhookParam] = []

    def add(location: str, prop_name: str, prop: Any, is_required: bool) -> None:
        prop = prop if isinstance(prop, Mapping) else {}
        constant = prop.get("constant_value")
        variable = prop.get("dynamic_variable")
        if constant not in (None, ""):
            params.append(WebhookParam(prop_name, location, constant=constant))
        elif isinstance(variable, str) and variable:
            params.append(WebhookParam(prop_name, location, dynamic_variable=variable))
        else:
            params.append(WebhookParam(prop_name, location))
            properties[prop_name] = clean_schema(prop) or {"type": "string"}
            if is_required:
                required.append(prop_name)

    for prop_name, prop in (schema.get("path_params_schema") or {}).items():
        add("path", prop_name, prop, True)
    for location, key in (("query", "query_params_schema"), ("body", "request_body_schema")):
        block = schema.get(key) or {}
        needed = set(block.get("required") or [])
        for prop_name, prop in (block.get("properties") or {}).items():
            add(location, prop_name, prop, prop_name in needed)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    method = str(schema.get("method") or "GET").upper()
    return AgentTool(
        name,
        "webhook",
        str(config.get("description") or name),
        parameters,
        side_effecting=method in SIDE_EFFECT_METHODS,
        config=config,
        webhook_params=tuple(params),
    )


def _from_config(config: Mapping[str, Any]) -> AgentTool | None:
    kind = config.get("type")
    if kind == "webhook":
        return _webhook_tool(config)
    if kind == "client":
        return _client_tool(config)
    if kind == "system":
        system_type = (config.get("params") or {}).get("system_tool_type") or config.get("name")
        if system_type in SYSTEM_TOOL_TYPES:
            return _system_tool(str(system_type), config)
        log.info("system tool %r is not supported on phone calls; left out", system_type)
        return None
    log.info("tool type %r cannot run on a phone call; left out", kind)
    return None


def _client_tool(config: Mapping[str, Any]) -> AgentTool | None:
    """A tool the conversation's client runs (ElevenLabs ``type: client``); only a client can run it."""
    name = str(config.get("name") or "").strip()
    if not name:
        return None
    parameters = clean_schema(config.get("parameters")) or {}
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        parameters = {"type": "object", "properties": {}}
    return AgentTool(name, "client", str(config.get("description") or ""), parameters, config=config)


def book_meeting_tool() -> AgentTool:
    return AgentTool(
        BOOK_MEETING,
        "builtin",
        "Book a meeting with the caller once they have agreed to a specific day and time.",
        BOOK_MEETING_SCHEMA,
        side_effecting=True,
    )


class ToolBox:
    """The tools one call may use, by name."""

    def __init__(self, tools: Sequence[AgentTool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def get(self, name: str) -> AgentTool | None:
        return self._tools.get(name)

    def by_system_type(self, system_type: str) -> AgentTool | None:
        return next((tool for tool in self._tools.values() if tool.system_type == system_type), None)

    @property
    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)


def load_toolbox(
    agent_config: Mapping[str, Any],
    extra_tools: Sequence[Mapping[str, Any]] = (),
    *,
    can_book_meetings: bool,
    can_run_client_tools: bool = False,
) -> ToolBox:
    prompt = (agent_config.get("agent") or {}).get("prompt") or {}
    configs: list[Mapping[str, Any]] = [t for t in (prompt.get("tools") or []) if isinstance(t, Mapping)]
    configs += [t.get("tool_config", t) for t in extra_tools if isinstance(t, Mapping)]
    built_in = prompt.get("built_in_tools") or {}
    if isinstance(built_in, Mapping):
        for slot, config in built_in.items():
            if isinstance(config, Mapping) and slot in SYSTEM_TOOL_TYPES:
                params = dict(config.get("params") or {})
                params.setdefault("system_tool_type", slot)
                configs.append({"type": "system", "name": slot, **config, "params": params})
    tools: list[AgentTool] = []
    for config in configs:
        tool = _from_config(config)
        if tool is not None and tool.kind == "client" and not can_run_client_tools:
            log.info("client tool %r needs a client (the web socket); left out of this call", tool.name)
            continue
        if tool is not None and all(existing.name != tool.name for existing in tools):
            tools.append(tool)
    if not any(tool.system_type == "end_call" for tool in tools):
        tools.append(
            AgentTool(
                "end_call",
                "system",
                _SYSTEM_DESCRIPTIONS["end_call"],
                {"type": "object", "properties": dict(_REASON)},
                system_type="end_call",
            )
        )
    if can_book_meetings and all(tool.name != BOOK_MEETING for tool in tools):
        tools.append(book_meeting_tool())
    return ToolBox(tools)
