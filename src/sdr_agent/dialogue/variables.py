"""Dynamic variables (``{{name}}``) as ElevenLabs defines them: caller-supplied values, ``system__*``
values the platform fills in, ``dynamic_variable_placeholders`` as defaults, and ``secret__*`` values
that may only reach tool request headers — never the LLM, a spoken line or a log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

VARIABLE_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SYSTEM_PREFIX = "system__"
SECRET_PREFIX = "secret__"
# Filled by the platform when a call starts, so an outbound request never has to provide them.
SYSTEM_VARIABLES = frozenset(
    {
        "system__agent_id",
        "system__current_agent_id",
        "system__caller_id",
        "system__called_number",
        "system__call_duration_secs",
        "system__time_utc",
        "system__conversation_id",
        "system__call_sid",
        "system__time",
        "system__timezone",
    }
)


def variable_names(text: str) -> list[str]:
    """Names referenced in ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in VARIABLE_PATTERN.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def is_secret(name: str) -> bool:
    return name.startswith(SECRET_PREFIX)


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def substitute(text: str, values: Mapping[str, Any], *, allow_secrets: bool = False) -> str:
    """Replace ``{{name}}`` with its value. Unknown names become "" so no template syntax is ever spoken;
    secrets become "" unless ``allow_secrets`` (tool headers only)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if is_secret(name) and not allow_secrets:
            return ""
        return _stringify(values.get(name))

    return VARIABLE_PATTERN.sub(replace, text)


def substitute_json(value: Any, values: Mapping[str, Any]) -> Any:
    """Substitute variables in every string of a JSON-like value (tool bodies); never secrets."""
    if isinstance(value, str):
        return substitute(value, values)
    if isinstance(value, list):
        return [substitute_json(item, values) for item in value]
    if isinstance(value, dict):
        return {key: substitute_json(item, values) for key, item in value.items()}
    return value


def placeholders(agent_config: Mapping[str, Any]) -> dict[str, Any]:
    """``agent.dynamic_variables.dynamic_variable_placeholders`` — defaults for unset variables."""
    agent = agent_config.get("agent") or {}
    block = agent.get("dynamic_variables") or {}
    values = block.get("dynamic_variable_placeholders") if isinstance(block, Mapping) else None
    return dict(values) if isinstance(values, Mapping) else {}


def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings_in(item)


def _tool_templates(tool: Mapping[str, Any]) -> Iterable[str]:
    schema = tool.get("api_schema") or {}
    if not isinstance(schema, Mapping):
        return
    yield from _strings_in(schema.get("url", ""))
    yield from _strings_in(schema.get("request_headers") or {})
    for key in ("request_body_schema", "query_params_schema", "path_params_schema"):
        yield from _strings_in(schema.get(key) or {})


def referenced_variables(
    agent_config: Mapping[str, Any], tools: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Every ``{{name}}`` in first_message, the prompt and the agent's tools, in order of appearance."""
    agent = agent_config.get("agent") or {}
    prompt = agent.get("prompt") or {}
    texts: list[str] = [str(agent.get("first_message") or ""), str(prompt.get("prompt") or "")]
    inline = prompt.get("tools") or []
    for tool in [*inline, *tools]:
        if isinstance(tool, Mapping):
            texts.extend(_tool_templates(tool))
    seen: dict[str, None] = {}
    for text in texts:
        for name in variable_names(text):
            seen.setdefault(name, None)
    return list(seen)


def missing_variables(
    agent_config: Mapping[str, Any],
    provided: Mapping[str, Any],
    *,
    tools: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Variables the agent's templates use that neither ``provided`` nor a placeholder supplies.

    ``system__*`` names are never missing (the platform fills them at call time).
    """
    defaults = placeholders(agent_config)
    return [
        name
        for name in referenced_variables(agent_config, tools)
        if name not in SYSTEM_VARIABLES
        and not name.startswith(SYSTEM_PREFIX)
        and provided.get(name) is None
        and defaults.get(name) is None
    ]


class VariableScope:
    """Variable values for one call. ``system__call_duration_secs`` and ``system__time_utc`` are evaluated
    when asked for (tools see execution-time values); the prompt copy is frozen at call start."""

    def __init__(
        self,
        *,
        agent_config: Mapping[str, Any],
        provided: Mapping[str, Any],
        agent_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._clock = clock
        self._started = clock()
        values: dict[str, Any] = placeholders(agent_config)
        values.update({key: value for key, value in provided.items() if value is not None})
        values.setdefault("system__agent_id", agent_id)
        values.setdefault("system__current_agent_id", agent_id)
        self._values = values
        self._frozen = self.current()

    def current(self) -> dict[str, Any]:
        now = self._clock()
        values = dict(self._values)
        values["system__time_utc"] = now.isoformat()
        values["system__call_duration_secs"] = max(0, int((now - self._started).total_seconds()))
        return values

    @property
    def at_start(self) -> dict[str, Any]:
        return dict(self._frozen)

    def get(self, name: str) -> Any:
        return self._values.get(name)

    def secret_values(self) -> list[str]:
        """Secret values, so log and error text can be scrubbed of them."""
        return [str(value) for name, value in self._values.items() if is_secret(name) and str(value)]

    def public_items(self) -> dict[str, Any]:
        return {name: value for name, value in self._values.items() if not is_secret(name)}


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
