"""An in-process LLM through llama-cpp-python (an optional dependency) from a local GGUF file.

The model is loaded once per (path, context size, threads) per process, on first use; generation runs in
one worker thread and its OpenAI-style stream chunks are handed to the event loop as they come. Closing
the async iterator stops generation at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdr_agent.engines.base import (
    ChatMessage,
    EngineError,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from sdr_agent.settings import LLMSettings

_models: dict[tuple[str, int, int, str], Any] = {}
_models_lock = threading.Lock()
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
_Item = LLMEvent | EngineError | None  # None: generation is over


def check_llamacpp_available(settings: LLMSettings) -> Path:
    """Fail early, with a message that says what to do, when llamacpp cannot work with these settings."""
    if not settings.gguf_path:
        raise EngineError("llm.provider 'llamacpp' needs SDR_LLM__GGUF_PATH (a local .gguf model file)")
    path = Path(settings.gguf_path).expanduser()
    if not path.is_file():
        raise EngineError(f"SDR_LLM__GGUF_PATH {str(path)!r} is not a file")
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise EngineError(
            "llm.provider 'llamacpp' needs the optional package llama-cpp-python "
            "(pip install 'sdr-agent[llamacpp]', or pip install llama-cpp-python)"
        ) from exc
    return path


def message_to_openai(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.raw_arguments or json.dumps(call.arguments),
                },
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


@dataclass
class _PendingToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def finish(self, index: int) -> ToolCall:
        raw = "".join(self.arguments)
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            parsed = {}
        arguments = parsed if isinstance(parsed, dict) else {}
        return ToolCall(self.id or f"call_{index}", self.name, arguments, raw)


def events_from_chunks(chunks: Iterator[dict[str, Any]]) -> Iterator[LLMEvent]:
    """OpenAI-style streaming chunks → our events; tool-call argument pieces are joined per index."""
    pending: dict[int, _PendingToolCall] = {}
    finish_reason = "stop"
    for chunk in chunks:
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield TextDelta(str(delta["content"]))
            for piece in delta.get("tool_calls") or []:
                call = pending.setdefault(int(piece.get("index", 0)), _PendingToolCall())
                function = piece.get("function") or {}
                call.id = piece.get("id") or call.id
                call.name = function.get("name") or call.name
                if function.get("arguments"):
                    call.arguments.append(str(function["arguments"]))
            if choice.get("finish_reason"):
                finish_reason = str(choice["finish_reason"])
    for index in sorted(pending):
        yield ToolCallDelta(pending[index].finish(index))
    yield LLMFinished(finish_reason)


class LlamaCppLLM:
    """``LanguageModel`` on llama-cpp-python. ``request.context`` is expected inside the messages already."""

    name = "llamacpp"

    def __init__(self, settings: LLMSettings, threads: int = 2) -> None:
        self._path = check_llamacpp_available(settings)
        self._settings = settings
        self._threads = threads

    def _model(self) -> Any:
        chat_format = self._settings.llamacpp_chat_format
        key = (str(self._path), self._settings.context_window_tokens, self._threads, chat_format)
        with _models_lock:
            model = _models.get(key)
            if model is None:
                import llama_cpp

                model = _models[key] = llama_cpp.Llama(
                    model_path=key[0], n_ctx=key[1], n_threads=key[2], verbose=False,
                    chat_format=chat_format or None,
                )
            return model

    def _generate(self, request: LLMRequest, emit: Callable[[_Item], None], stop: threading.Event) -> None:
        try:
            temperature = self._settings.temperature if request.temperature is None else request.temperature
            kwargs: dict[str, Any] = {
                "messages": [message_to_openai(m) for m in request.messages],
                "temperature": temperature,
                "max_tokens": request.max_tokens or self._settings.max_tokens,
                "stream": True,
            }
            if request.tools:
                kwargs["tool_choice"] = "auto"  # the model decides; the dialogue validates every call
                kwargs["tools"] = [
                    {"type": "function", "function": {"name": t.name, "description": t.description,
                                                      "parameters": t.parameters}}
                    for t in request.tools
                ]
            for event in events_from_chunks(iter(self._model().create_chat_completion(**kwargs))):
                if stop.is_set():
                    return
                emit(event)
        except Exception as exc:
            emit(EngineError(f"llama.cpp generation failed: {exc}"))
        finally:
            emit(None)

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: _Item) -> None:
            # The loop may be gone when a cancelled generation's thread winds down; nobody is listening then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        loop.run_in_executor(_executor, self._generate, request, emit, stop)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, EngineError):
                    raise item
                yield item
        finally:
            stop.set()
