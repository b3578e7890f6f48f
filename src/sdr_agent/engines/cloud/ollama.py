"""Ollama ``POST /api/chat`` with streaming NDJSON and native tool calls (``protocols.md`` §5.1).

Tool-call arguments arrive as JSON objects, normally one whole call per chunk. An error after streaming began
arrives as a final ``{"error": …}`` line with HTTP 200; it becomes an ``EngineError`` like an HTTP 4xx/5xx.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sdr_agent.engines.base import (
    EngineError,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from sdr_agent.engines.cloud.chat_wire import ollama_messages, parse_arguments, tool_specs, with_context
from sdr_agent.engines.cloud.http_common import EngineHTTP, load_chunk
from sdr_agent.settings import LLMSettings


class OllamaLLM:
    name = "ollama"

    def __init__(self, settings: LLMSettings) -> None:
        self._settings = settings
        self._base = settings.base_url.rstrip("/")
        self._http = EngineHTTP("Ollama", settings.request_timeout_s)

    def chat_body(self, request: LLMRequest) -> dict[str, Any]:
        s = self._settings
        body: dict[str, Any] = {
            "model": request.model or s.model,
            "stream": True,
            "keep_alive": s.keep_alive,
            "options": {
                "temperature": s.temperature if request.temperature is None else request.temperature,
                "num_predict": request.max_tokens or s.max_tokens,
            },
            "messages": ollama_messages(with_context(request)),
        }
        if request.tools:
            body["tools"] = tool_specs(request.tools)
        return body

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        body = self.chat_body(request)
        called_tools = False
        async with contextlib.aclosing(self._http.stream_lines(f"{self._base}/api/chat", body)) as lines:
            async for line in lines:
                if not line.strip():
                    continue
                chunk = load_chunk(line, "Ollama")
                message = chunk.get("message")
                if isinstance(message, dict):
                    content = message.get("content")
                    if isinstance(content, str) and content:
                        yield TextDelta(content)
                    for raw_call in message.get("tool_calls") or []:
                        called_tools = True
                        yield ToolCallDelta(_tool_call(raw_call))
                if chunk.get("done"):
                    reason = str(chunk.get("done_reason") or "stop")
                    yield LLMFinished("tool_calls" if called_tools and reason == "stop" else reason)
                    return
        raise EngineError("Ollama stream ended before its done line")

    async def probe(self) -> None:
        """Cheap health check for the fallback adapter: the model list answers."""
        response = await self._http.get(f"{self._base}/api/tags")
        if response.status_code != 200:
            raise EngineError(f"Ollama /api/tags answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()


def _tool_call(raw: object) -> ToolCall:
    if not isinstance(raw, dict) or not isinstance(raw.get("function"), dict):
        raise EngineError(f"Ollama sent a malformed tool call: {raw!r}"[:200])
    function: dict[str, Any] = raw["function"]
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise EngineError("Ollama sent a tool call without a name")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):
        parsed, raw_arguments = arguments, json.dumps(arguments)
    else:
        raw_arguments = arguments if isinstance(arguments, str) else ""
        parsed = parse_arguments(raw_arguments)
    call_id = raw.get("id")
    return ToolCall(
        id=call_id if isinstance(call_id, str) and call_id else f"call_{uuid.uuid4().hex[:12]}",
        name=name,
        arguments=parsed,
        raw_arguments=raw_arguments,
    )
