"""Server-sent events and OpenAI tool-call delta accumulation (``protocols.md`` §5.2)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sdr_agent.engines.base import ToolCall
from sdr_agent.engines.cloud.chat_wire import parse_arguments

logger = logging.getLogger(__name__)


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The ``data`` of each event: ``data:`` lines joined by newlines, an event ends at a blank line."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / heartbeat
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class ToolCallAccumulator:
    """Joins tool-call fragments per ``index``: the first carries id and name, later ones argument pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def add(self, fragment: object) -> None:
        if not isinstance(fragment, dict):
            return
        index = fragment.get("index")
        key = index if isinstance(index, int) else len(self._calls)
        call = self._calls.setdefault(key, _PartialCall())
        if isinstance(fragment.get("id"), str) and fragment["id"]:
            call.id = fragment["id"]
        function = fragment.get("function")
        if not isinstance(function, dict):
            return
        if isinstance(function.get("name"), str) and function["name"]:
            call.name = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments += arguments
        elif isinstance(arguments, dict):  # some compatible servers send the object whole
            call.arguments = json.dumps(arguments)

    def drain(self) -> list[ToolCall]:
        """The completed calls in index order; forgets them."""
        calls: list[ToolCall] = []
        for key in sorted(self._calls):
            partial = self._calls[key]
            if not partial.name:
                logger.warning("dropping a streamed tool call without a name (index %s)", key)
                continue
            calls.append(ToolCall(
                id=partial.id or f"call_{uuid.uuid4().hex[:12]}",
                name=partial.name,
                arguments=parse_arguments(partial.arguments),
                raw_arguments=partial.arguments,
            ))
        self._calls.clear()
        return calls
