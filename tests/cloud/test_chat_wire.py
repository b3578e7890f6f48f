"""Chat types → Ollama/OpenAI wire formats, SSE parsing, tool-call delta accumulation, URL joining."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sdr_agent.engines.base import ChatMessage, ContextPassage, LLMRequest, ToolCall
from sdr_agent.engines.cloud.chat_wire import (
    CONTEXT_HEADER,
    ollama_messages,
    openai_messages,
    parse_arguments,
    with_context,
)
from sdr_agent.engines.cloud.openai_compat import join_url
from sdr_agent.engines.cloud.sse import ToolCallAccumulator, sse_data

CALL = ToolCall(id="call_1", name="book_meeting", arguments={"day": "tuesday", "time": "10:00"})
HISTORY = [
    ChatMessage(role="system", content="You are Sam."),
    ChatMessage(role="user", content="Book me Tuesday at ten."),
    ChatMessage(role="assistant", content="", tool_calls=(CALL,)),
    ChatMessage(role="tool", content='{"booked": true}', tool_call_id="call_1"),
]


def test_openai_messages_carry_tool_calls_as_json_strings() -> None:
    wire = openai_messages(HISTORY)
    assert wire[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "book_meeting", "arguments": '{"day": "tuesday", "time": "10:00"}'},
            }
        ],
    }
    assert wire[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"booked": true}'}


def test_ollama_messages_carry_argument_objects_and_tool_names() -> None:
    wire = ollama_messages(HISTORY)
    assert wire[2]["tool_calls"] == [
        {"function": {"name": "book_meeting", "arguments": {"day": "tuesday", "time": "10:00"}}}
    ]
    assert wire[3] == {"role": "tool", "content": '{"booked": true}', "tool_name": "book_meeting"}


def test_context_is_added_once_after_the_system_prompt() -> None:
    passage = ContextPassage(
        text="Pricing starts at $49 per seat.", source_id="doc1", document_name="pricing"
    )
    request = LLMRequest(messages=HISTORY[:2], context=[passage])
    messages = with_context(request)
    assert [m.role for m in messages] == ["system", "system", "user"]
    assert (
        messages[1].content.startswith(CONTEXT_HEADER) and "(pricing) Pricing starts" in messages[1].content
    )
    already = LLMRequest(
        messages=[ChatMessage(role="system", content="Facts: Pricing starts at $49 per seat."), HISTORY[1]],
        context=[passage],
    )
    assert with_context(already) == already.messages


def test_arguments_that_do_not_parse_become_an_empty_object() -> None:
    assert parse_arguments('{"a": 1}') == {"a": 1}
    assert parse_arguments("") == {} and parse_arguments("{broken") == {} and parse_arguments("[1]") == {}


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_sse_events_join_data_lines_and_skip_comments() -> None:
    events = [
        e async for e in sse_data(_lines(": ping", 'data: {"a":', "data: 1}", "", "event: x", "data:[DONE]"))
    ]
    assert events == ['{"a":\n1}', "[DONE]"]


def test_tool_call_fragments_are_joined_per_index() -> None:
    acc = ToolCallAccumulator()
    acc.add({"index": 0, "id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": ""}})
    acc.add(
        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "book", "arguments": '{"d'}}
    )
    acc.add({"index": 0, "function": {"arguments": '{"q": "pri'}})
    acc.add({"index": 1, "function": {"arguments": 'ay": "mon"}'}})
    acc.add({"index": 0, "function": {"arguments": 'cing"}'}})
    calls = acc.drain()
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "lookup", {"q": "pricing"}),
        ("call_b", "book", {"day": "mon"}),
    ]
    assert acc.drain() == []


def test_chat_url_does_not_double_v1() -> None:
    assert join_url("http://h:8000", "/v1/chat/completions") == "http://h:8000/v1/chat/completions"
    assert (
        join_url("https://api.x.com/v1/", "/v1/chat/completions") == "https://api.x.com/v1/chat/completions"
    )
    assert join_url("http://h/openai", "chat/completions") == "http://h/openai/chat/completions"
