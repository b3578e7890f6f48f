"""Small models often write a tool call as text instead of using the tools API — ``{"name": "end_call",
"arguments": {}}``, ``<tool_call>…</tool_call>``, ``[TOOL_CALLS] […]``, ``book_meeting(when="Tuesday")``.
That text must never be spoken. This filter holds text back from the first sign of such a call, and at the
end of the reply turns what it held into real ``ToolCall``s (when they name one of the call's tools) or
drops it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from typing import Any

from sdr_agent.engines.base import ToolCall

_MARKUP = re.compile(r"<\s*/?\s*(?:tool_call|function|tools?|\|[a-z_]+\|)|\[TOOL_CALLS\]|```|\{\s*\"", re.I)
_KWARG = re.compile(r"(\w+)\s*=\s*(\"[^\"]*\"|'[^']*'|[\w.:-]+)")


def _objects(text: str) -> list[Any]:
    """Every top-level JSON value (object or list) embedded in ``text``."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    index = 0
    while index < len(text):
        starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        found.append(value)
        index = end
    return found


def _as_call(value: Any, names: Collection[str]) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI shape written out as text
        value = value["function"]
    name = value.get("name") or value.get("tool") or value.get("tool_name")
    if not isinstance(name, str) or name not in names:
        return None
    arguments = value.get("arguments", value.get("parameters", value.get("args", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            arguments = {}
    arguments = arguments if isinstance(arguments, dict) else {}
    return ToolCall(f"call_{uuid.uuid4().hex[:16]}", name, arguments, json.dumps(arguments))


def parse_text_calls(text: str, names: Collection[str]) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for value in _objects(text):
        for item in value if isinstance(value, list) else [value]:
            call = _as_call(item, names)
            if call is not None:
                calls.append(call)
    if not calls:
        for name in names:
            for match in re.finditer(rf"\b{re.escape(name)}\s*\(([^)]*)\)", text):
                arguments = {k: v.strip("\"'") for k, v in _KWARG.findall(match.group(1))}
                calls.append(
                    ToolCall(f"call_{uuid.uuid4().hex[:16]}", name, arguments, json.dumps(arguments))
                )
    return calls


class TextToolCallFilter:
    """Feed model text in; get speakable text out; ``finish`` returns the tool calls the text held."""

    def __init__(self, tool_names: Collection[str]) -> None:
        self._names = tuple(tool_names)
        self._call_start = re.compile(
            r"\b(?:functions\.)?(?:" + "|".join(re.escape(n) for n in self._names) + r")\s*\("
            if self._names
            else r"(?!x)x"
        )
        self._held = ""
        self._holding = False
        self._tail = ""  # a few characters kept back in case a marker is split across deltas
        self.dropped = ""

    def feed(self, text: str) -> str:
        if self._holding:
            self._held += text
            return ""
        pending = self._tail + text
        match = _MARKUP.search(pending) or self._call_start.search(pending)
        if match:
            self._holding = True
            self._held = pending[match.start() :]
            self._tail = ""
            return pending[: match.start()]
        # The last word may be the start of a marker split across deltas: keep it back until the next one.
        cut = max(pending.rfind(" "), pending.rfind("\n")) + 1
        self._tail = pending[cut:]
        return pending[:cut]

    def finish(self) -> tuple[str, list[ToolCall]]:
        """(text still to speak, tool calls written as text)."""
        if not self._holding:
            tail, self._tail = self._tail, ""
            return tail, []
        held, self._held = self._held, ""
        calls = parse_text_calls(held, self._names)
        self.dropped = held
        return "", calls
