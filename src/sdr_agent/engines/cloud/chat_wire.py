"""Maps the engine-neutral chat types (``engines.base``) to the Ollama and OpenAI request formats.

The two formats differ in three places: tool-call arguments (Ollama: a JSON object; OpenAI: a JSON string),
how a tool result names its call (Ollama: ``tool_name``; OpenAI: ``tool_call_id``) and OpenAI's
``content: null`` on an assistant message that only calls tools.
"""

from __future__ import annotations

import json
from typing import Any

from sdr_agent.engines.base import ChatMessage, ContextPassage, LLMRequest, ToolSpec

CONTEXT_HEADER = "Knowledge base excerpts (answer from these when they are relevant):"


def with_context(request: LLMRequest) -> list[ChatMessage]:
    """The request's messages with retrieved passages as a system message after the leading system prompt.

    The dialogue layer may already have written the passages into its system prompt; then nothing is added, so
    a generative model never sees them twice.
    """
    messages = list(request.messages)
    passages = [p for p in request.context if p.text.strip()]
    if not passages:
        return messages
    system_text = "\n".join(m.content for m in messages if m.role == "system")
    if all(p.text.strip() in system_text for p in passages):
        return messages
    insert_at = 0
    while insert_at < len(messages) and messages[insert_at].role == "system":
        insert_at += 1
    messages.insert(insert_at, ChatMessage(role="system", content=render_passages(passages)))
    return messages


def render_passages(passages: list[ContextPassage]) -> str:
    lines = [CONTEXT_HEADER]
    for number, passage in enumerate(passages, start=1):
        source = f" ({passage.document_name})" if passage.document_name else ""
        lines.append(f"[{number}]{source} {passage.text.strip()}")
    return "\n".join(lines)


def tool_specs(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Both servers take the OpenAI function-tool shape."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            wire.append({
                "role": "assistant",
                "content": message.content or None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in message.tool_calls
                ],
            })
        elif message.role == "tool":
            item: dict[str, Any] = {
                "role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content
            }
            if message.name:
                item["name"] = message.name
            wire.append(item)
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def ollama_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    call_names: dict[str, str] = {}
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            call_names.update({call.id: call.name for call in message.tool_calls})
            wire.append({
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
                ],
            })
        elif message.role == "tool":
            name = message.name or call_names.get(message.tool_call_id or "", "")
            item: dict[str, Any] = {"role": "tool", "content": message.content}
            if name:
                item["tool_name"] = name
            wire.append(item)
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def parse_arguments(raw: str) -> dict[str, Any]:
    """Tool arguments as an object; ``{}`` when the model sent nothing or something that is not an object
    (the caller keeps ``raw`` in ``ToolCall.raw_arguments`` for the error report)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
