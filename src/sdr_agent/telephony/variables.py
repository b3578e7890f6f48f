"""Dynamic variables at call set-up: which ``{{name}}``s an agent needs, defaults, and the ``system__*`` ones.

Values come from the API request (``dynamic_variables``); the agent's
``conversation_config.agent.dynamic_variables.dynamic_variable_placeholders`` fill the gaps; ``system__*``
names are ours to fill and callers may not set them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

SYSTEM_PREFIX = "system__"
SECRET_PREFIX = "secret__"
VARIABLE_PATTERN = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

VariableValue = str | int | float | bool


def variables_in(text: str) -> set[str]:
    return set(VARIABLE_PATTERN.findall(text or ""))


def _nested(tree: Mapping[str, Any], *path: str) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def effective_texts(conversation_config: Mapping[str, Any], override: Mapping[str, Any] | None) -> list[str]:
    """first_message and the system prompt as this call will use them (an override replaces the agent's)."""
    texts: list[str] = []
    for path in (("agent", "first_message"), ("agent", "prompt", "prompt")):
        value = _nested(override or {}, *path)
        if value is None:
            value = _nested(conversation_config, *path)
        if isinstance(value, str):
            texts.append(value)
    return texts


def placeholder_defaults(conversation_config: Mapping[str, Any]) -> dict[str, VariableValue]:
    raw = _nested(conversation_config, "agent", "dynamic_variables", "dynamic_variable_placeholders")
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(name): value
        for name, value in raw.items()
        if isinstance(value, str | int | float | bool) and not str(name).startswith(SYSTEM_PREFIX)
    }


def missing_variables(texts: Iterable[str], provided: Mapping[str, Any]) -> list[str]:
    """Custom variables used in ``texts`` with no value (system and secret names are not the caller's job)."""
    used: set[str] = set()
    for text in texts:
        used |= variables_in(text)
    return sorted(
        name for name in used if not name.startswith((SYSTEM_PREFIX, SECRET_PREFIX)) and name not in provided
    )


def reserved_names(provided: Mapping[str, Any]) -> list[str]:
    return sorted(name for name in provided if name.startswith(SYSTEM_PREFIX))


def system_variables(
    *,
    agent_id: str,
    conversation_id: str,
    caller_id: str | None,
    called_number: str | None,
    call_sid: str | None,
    now: datetime | None = None,
) -> dict[str, VariableValue]:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    values: dict[str, VariableValue] = {
        "system__agent_id": agent_id,
        "system__current_agent_id": agent_id,
        "system__conversation_id": conversation_id,
        "system__time_utc": moment.isoformat().replace("+00:00", "Z"),
    }
    if caller_id:
        values["system__caller_id"] = caller_id
    if called_number:
        values["system__called_number"] = called_number
    if call_sid:
        values["system__call_sid"] = call_sid
    return values
