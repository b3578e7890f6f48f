"""Ollama and OpenAI-compatible adapters against their stand-ins: text, tool calls, request shape, faults."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import SecretStr

from sdr_agent.engines.base import (
    ChatMessage,
    EngineError,
    LanguageModel,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from sdr_agent.engines.cloud.ollama import OllamaLLM
from sdr_agent.engines.cloud.openai_compat import OpenAICompatLLM
from sdr_agent.settings import LLMSettings
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.llm_script import ScriptedReply
from sdr_agent.sim.ollama import OllamaStandIn
from sdr_agent.sim.openai_compat import OpenAIStandIn

BOOK = ToolSpec(
    name="book_meeting",
    description="Book a meeting",
    parameters={
        "type": "object",
        "properties": {"day": {"type": "string"}, "attendees": {"type": "array"}},
        "required": ["day"],
    },
)
ARGS: dict[str, Any] = {"day": "tuesday", "attendees": ["ana@example.com", "li@example.com"], "note": "demo"}


def request(text: str = "hello", **kwargs: Any) -> LLMRequest:
    return LLMRequest(
        messages=[ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content=text)],
        **kwargs,
    )


async def run(llm: LanguageModel, req: LLMRequest) -> list[LLMEvent]:
    return [event async for event in llm.stream(req)]


def text_of(events: list[LLMEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.fixture(params=["ollama", "openai"])
def server(request: pytest.FixtureRequest) -> tuple[str, Any, LLMSettings]:
    kind = str(request.param)
    standin = request.getfixturevalue("ollama" if kind == "ollama" else "openai_server")
    settings = request.getfixturevalue(f"{kind}_settings")
    return kind, standin, settings


def build(kind: str, settings: LLMSettings) -> LanguageModel:
    return OllamaLLM(settings) if kind == "ollama" else OpenAICompatLLM(settings)


async def test_text_streams_in_pieces_and_finishes(server: tuple[str, Any, LLMSettings]) -> None:
    kind, standin, settings = server
    standin.script.add("Sure, Tuesday at ten works for us.")
    events = await run(build(kind, settings), request())
    assert text_of(events) == "Sure, Tuesday at ten works for us."
    assert len([e for e in events if isinstance(e, TextDelta)]) == 7
    assert events[-1] == LLMFinished("stop")


async def test_tool_calls_are_parsed(server: tuple[str, Any, LLMSettings]) -> None:
    kind, standin, settings = server
    standin.script.add(ScriptedReply(text="Booking it.", tool_calls=(("book_meeting", ARGS), ("lookup", {}))))
    events = await run(build(kind, settings), request(tools=[BOOK]))
    calls = [e.call for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.name, c.arguments) for c in calls] == [("book_meeting", ARGS), ("lookup", {})]
    assert all(c.id for c in calls) and len({c.id for c in calls}) == 2
    assert events[-1] == LLMFinished("tool_calls")
    assert standin.requests[0]["tools"][0]["function"]["name"] == "book_meeting"


async def test_openai_arguments_really_arrive_split_across_deltas(
    openai_server: OpenAIStandIn, openai_settings: LLMSettings
) -> None:
    openai_server.argument_piece_chars = 3
    openai_server.script.add(ScriptedReply(tool_calls=(("book_meeting", ARGS),)))
    events = await run(OpenAICompatLLM(openai_settings), request(tools=[BOOK]))
    (call,) = [e.call for e in events if isinstance(e, ToolCallDelta)]
    assert call.arguments == ARGS and len(call.raw_arguments) > 30  # ≥ 10 fragments were joined


async def test_ollama_request_shape(ollama: OllamaStandIn, ollama_settings: LLMSettings) -> None:
    await run(OllamaLLM(ollama_settings), request(model="llama3.2", temperature=0.9, max_tokens=42))
    body = ollama.requests[0]
    assert body["model"] == "llama3.2" and body["stream"] is True and body["keep_alive"] == "5m"
    assert body["options"] == {"temperature": 0.9, "num_predict": 42}
    assert body["messages"][1] == {"role": "user", "content": "hello"}
    await run(OllamaLLM(ollama_settings), request())
    assert ollama.requests[1]["options"] == {"temperature": 0.3, "num_predict": 200}  # settings defaults


async def test_openai_request_shape(openai_server: OpenAIStandIn, openai_settings: LLMSettings) -> None:
    await run(OpenAICompatLLM(openai_settings), request(temperature=0.0, max_tokens=10))
    body = openai_server.requests[0]
    assert body["model"] == "stand-in-model" and body["stream"] is True
    assert body["temperature"] == 0.0 and body["max_tokens"] == 10
    assert "tools" not in body


async def test_openai_wrong_key_is_an_engine_error(
    openai_server: OpenAIStandIn, openai_settings: LLMSettings
) -> None:
    llm = OpenAICompatLLM(openai_settings.model_copy(update={"api_key": SecretStr("nope")}))
    with pytest.raises(EngineError, match=r"401.*Incorrect API key"):
        await run(llm, request())


async def test_ollama_unknown_model_is_an_engine_error(
    ollama: OllamaStandIn, ollama_settings: LLMSettings
) -> None:
    with pytest.raises(EngineError, match=r'404.*model "mystery" not found'):
        await run(OllamaLLM(ollama_settings), request(model="mystery"))


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (FaultPlan(http_status=500), "HTTP 500"),
        (FaultPlan(disconnect_after=3), "request failed|ended before"),
        (FaultPlan(malformed_after=2), "malformed chunk"),
        (FaultPlan(error_after=2), "error mid-stream"),
    ],
)
async def test_faults_are_engine_errors(
    server: tuple[str, Any, LLMSettings], fault: FaultPlan, match: str
) -> None:
    kind, standin, settings = server
    standin.faults = dataclasses.replace(fault)  # parameters are shared between tests
    standin.script.add("one two three four five six")
    with pytest.raises(EngineError, match=match):
        await run(build(kind, settings), request())


async def test_probe_hits_a_cheap_endpoint(server: tuple[str, Any, LLMSettings]) -> None:
    kind, standin, settings = server
    llm = build(kind, settings)
    await llm.probe()  # type: ignore[attr-defined]
    standin.faults = FaultPlan(http_status=503)
    with pytest.raises(EngineError):
        await llm.probe()  # type: ignore[attr-defined]
    assert standin.requests == []  # no chat request was spent on probing


async def test_unreachable_server_is_an_engine_error() -> None:
    settings = LLMSettings(provider="ollama", base_url="http://127.0.0.1:9", request_timeout_s=1.0)
    with pytest.raises(EngineError, match="request failed"):
        await run(OllamaLLM(settings), request())
