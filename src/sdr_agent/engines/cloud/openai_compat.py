"""Any OpenAI-compatible ``/v1/chat/completions`` server with SSE streaming (``protocols.md`` §5.2).

Tool calls stream as fragments per ``index`` (arguments split across deltas); they are joined and handed on
as whole ``ToolCall``s once the choice finishes. A chunk with an ``error`` key is an error even with HTTP 200.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from sdr_agent.engines.base import EngineError, LLMEvent, LLMFinished, LLMRequest, TextDelta, ToolCallDelta
from sdr_agent.engines.cloud.chat_wire import openai_messages, tool_specs, with_context
from sdr_agent.engines.cloud.http_common import EngineHTTP, load_chunk
from sdr_agent.engines.cloud.sse import ToolCallAccumulator, sse_data
from sdr_agent.settings import LLMSettings


def join_url(base_url: str, path: str) -> str:
    """``http://h/v1`` + ``/v1/chat/completions`` → ``http://h/v1/chat/completions`` (no doubled ``/v1``)."""
    base = base_url.rstrip("/")
    path = "/" + path.lstrip("/")
    if base.endswith("/v1") and path.startswith("/v1/"):
        path = path.removeprefix("/v1")
    return base + path


class OpenAICompatLLM:
    name = "openai"

    def __init__(self, settings: LLMSettings) -> None:
        self._settings = settings
        self.chat_url = join_url(settings.base_url, settings.openai_chat_path)
        self.models_url = join_url(settings.base_url, "/v1/models")
        self._http = EngineHTTP(
            "OpenAI-compatible server", settings.request_timeout_s, short_name="OpenAI-compatible"
        )

    def chat_body(self, request: LLMRequest) -> dict[str, Any]:
        s = self._settings
        body: dict[str, Any] = {
            "model": request.model or s.model,
            "stream": True,
            "temperature": s.temperature if request.temperature is None else request.temperature,
            "max_tokens": request.max_tokens or s.max_tokens,
            "messages": openai_messages(with_context(request)),
        }
        if request.tools:
            body["tools"] = tool_specs(request.tools)
        return body

    def _headers(self) -> dict[str, str]:
        key = self._settings.api_key
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        lines = self._http.stream_lines(self.chat_url, self.chat_body(request), self._headers())
        async with contextlib.aclosing(lines), contextlib.aclosing(_events(sse_data(lines))) as events:
            async for event in events:
                yield event

    async def probe(self) -> None:
        """Cheap health check for the fallback adapter: the server answers ``/v1/models``.

        A 404 still proves the server is up (not every compatible server lists models); 401/403 do not.
        """
        response = await self._http.get(self.models_url, headers=self._headers())
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise EngineError(f"OpenAI-compatible server /v1/models answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()


async def _events(chunks: AsyncIterator[str]) -> AsyncGenerator[LLMEvent, None]:
    """Text as it comes; tool calls once their choice finishes; ``LLMFinished`` last."""
    calls = ToolCallAccumulator()
    finish: str | None = None
    done = False
    async for data in chunks:
        if data.strip() == "[DONE]":
            done = True
            break
        chunk = load_chunk(data, "OpenAI-compatible server")
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str) and content:
                    yield TextDelta(content)
                for fragment in delta.get("tool_calls") or []:
                    calls.add(fragment)
            if choice.get("finish_reason"):
                finish = str(choice["finish_reason"])
    if not done and finish is None:
        raise EngineError("OpenAI-compatible stream ended before [DONE]")
    for call in calls.drain():
        yield ToolCallDelta(call)
    yield LLMFinished(finish or "stop")
