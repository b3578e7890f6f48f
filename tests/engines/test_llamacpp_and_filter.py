"""llama.cpp adapter against a stand-in ``llama_cpp`` module, and the Whisper hallucination rule."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sdr_agent.engines.base import (
    ChatMessage,
    EngineError,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
)
from sdr_agent.engines.local.llamacpp_llm import LlamaCppLLM, events_from_chunks, message_to_openai
from sdr_agent.engines.local.whisper_filter import DecodedSegment, kept_segments, rejection_reason
from sdr_agent.settings import LLMSettings


def delta(content: str | None = None, tools: list[dict[str, Any]] | None = None,
          finish: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if content is not None:
        body["content"] = content
    if tools is not None:
        body["tool_calls"] = tools
    return {"choices": [{"delta": body, "finish_reason": finish}]}


TOOL_CHUNKS = [
    delta("Let me "),
    delta("book that."),
    delta(tools=[{"index": 0, "id": "call_9",
                  "function": {"name": "book_meeting", "arguments": '{"day": "'}}]),
    delta(tools=[{"index": 0, "function": {"arguments": 'tuesday"}'}}]),
    delta(tools=[{"index": 1, "function": {"name": "end_call", "arguments": "not json"}}]),
    delta(finish="tool_calls"),
]


def test_openai_chunks_become_events_with_split_tool_arguments_joined() -> None:
    events = list(events_from_chunks(iter(TOOL_CHUNKS)))
    assert events[:2] == [TextDelta("Let me "), TextDelta("book that.")]
    first, second = events[2], events[3]
    assert isinstance(first, ToolCallDelta) and isinstance(second, ToolCallDelta)
    assert first.call == ToolCall("call_9", "book_meeting", {"day": "tuesday"}, '{"day": "tuesday"}')
    assert second.call.name == "end_call" and second.call.arguments == {}
    assert second.call.raw_arguments == "not json"
    assert second.call.id == "call_1"
    assert events[-1] == LLMFinished("tool_calls")


def test_messages_are_sent_in_openai_shape() -> None:
    call = ToolCall("c1", "lookup", {"q": "x"})
    assert message_to_openai(ChatMessage("assistant", "", tool_calls=(call,)))["tool_calls"][0] == {
        "id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    assert message_to_openai(ChatMessage("tool", "42", tool_call_id="c1", name="lookup")) == {
        "role": "tool", "content": "42", "tool_call_id": "c1", "name": "lookup"}


class StandInLlama:
    created: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        StandInLlama.created.append(kwargs)
        self.requests: list[dict[str, Any]] = []

    def create_chat_completion(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        if kwargs["messages"][-1]["content"] == "explode":
            raise RuntimeError("out of memory")
        yield from TOOL_CHUNKS


@pytest.fixture
def gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LLMSettings:
    module = types.ModuleType("llama_cpp")
    module.Llama = StandInLlama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF")
    return LLMSettings(provider="llamacpp", gguf_path=str(path), temperature=0.2, max_tokens=64,
                       context_window_tokens=1024)


async def test_llamacpp_streams_events_and_passes_options(gguf: LLMSettings) -> None:
    llm = LlamaCppLLM(gguf)
    request = LLMRequest(messages=[ChatMessage("user", "book me")],
                         tools=[ToolSpec("book_meeting", "Books", {"type": "object"})])
    events = [e async for e in llm.stream(request)]
    assert events[-1] == LLMFinished("tool_calls") and len(events) == 5
    model = llm._model()
    sent = model.requests[-1]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 64 and sent["stream"] is True
    assert sent["tools"][0]["function"]["name"] == "book_meeting"
    assert StandInLlama.created[-1]["n_ctx"] == 1024
    again = [e async for e in llm.stream(LLMRequest(messages=[ChatMessage("user", "x")], temperature=0.9))]
    assert again and model.requests[-1]["temperature"] == 0.9
    assert llm._model() is model  # loaded once


async def test_llamacpp_failure_is_an_engine_error(gguf: LLMSettings) -> None:
    llm = LlamaCppLLM(gguf)
    with pytest.raises(EngineError, match="out of memory"):
        _ = [e async for e in llm.stream(LLMRequest(messages=[ChatMessage("user", "explode")]))]


# Numbers measured with tiny.en on the telephone path (see whisper_filter's table).
@pytest.mark.parametrize(
    ("segment", "level", "kept"),
    [
        (DecodedSegment(" I would like to book a meeting on Tuesday.", 0.04, -0.02, 0.84), -14.0, True),
        (DecodedSegment(" I would...", 0.20, -0.24, 0.56), -14.0, True),
        (DecodedSegment(" It's hot.", 0.15, -1.07, 0.53), -14.0, True),
        (DecodedSegment(" Yeah.", 0.14, -0.35, 0.38), -14.0, True),
        (DecodedSegment(" Thank you.", 0.10, -0.30, 0.50), -14.0, True),  # said out loud: kept
        (DecodedSegment(" .", 0.95, -1.19, 0.11), -120.0, False),
        (DecodedSegment(" you", 0.91, -1.44, 0.27), -15.0, False),
        (DecodedSegment(" You", 0.67, -1.86, 0.27), -13.5, False),
        (DecodedSegment(" It's a bit of a good idea.", 0.73, -1.88, 0.81), -13.5, False),
        (DecodedSegment(" Thank you.", 0.30, -0.60, 0.50), -50.0, False),  # stock phrase on a quiet line
        (DecodedSegment(" the the the the the the the the the the", 0.1, -0.3, 3.1), -14.0, False),
    ],
)
def test_whisper_hallucination_rule(segment: DecodedSegment, level: float, kept: bool) -> None:
    assert (rejection_reason(segment, level) is None) is kept
    assert (kept_segments([segment], level) == [segment]) is kept
