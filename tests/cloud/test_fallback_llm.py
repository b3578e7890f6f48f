"""FallbackLLM: every injected fault on both LLM servers ends in the fallback's answer and a switch."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from sdr_agent.engines.base import (
    ChatMessage,
    EngineError,
    LanguageModel,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from sdr_agent.engines.cloud.ollama import OllamaLLM
from sdr_agent.engines.cloud.openai_compat import OpenAICompatLLM
from sdr_agent.engines.fakes import FakeLLM, FakeReply
from sdr_agent.engines.fallback import EngineSwitch, FallbackLLM, switches_reported_to
from sdr_agent.settings import LLMSettings
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.llm_script import ScriptedReply

REQUEST = LLMRequest(messages=[ChatMessage(role="user", content="What does it cost?")])
FAULTS = {
    "slow first byte": FaultPlan(first_byte_delay_s=2.0),
    "http 500": FaultPlan(http_status=500),
    "disconnect before text": FaultPlan(disconnect_after=0),
    "malformed chunk": FaultPlan(malformed_after=0),
    "in-stream error": FaultPlan(error_after=0),
}


@pytest.fixture(params=["ollama", "openai"])
def primary(request: pytest.FixtureRequest) -> tuple[Any, LanguageModel]:
    if request.param == "ollama":
        return request.getfixturevalue("ollama"), OllamaLLM(request.getfixturevalue("ollama_settings"))
    settings: LLMSettings = request.getfixturevalue("openai_settings")
    return request.getfixturevalue("openai_server"), OpenAICompatLLM(settings)


async def run(llm: LanguageModel, req: LLMRequest = REQUEST) -> list[LLMEvent]:
    return [event async for event in llm.stream(req)]


def text_of(events: list[LLMEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_each_fault_ends_in_the_fallback_answer(
    primary: tuple[Any, LanguageModel], fault: FaultPlan
) -> None:
    standin, engine = primary
    standin.faults = dataclasses.replace(fault)  # parameters are shared between tests
    fallback = FakeLLM(["Plans start at $49 a seat."], name="grounded")
    reported: list[EngineSwitch] = []
    per_call: list[EngineSwitch] = []
    llm = FallbackLLM([engine, fallback], first_result_timeout_s=0.5, on_switch=reported.append)
    with switches_reported_to(per_call.append):
        events = await run(llm)
    await llm.aclose()
    assert text_of(events) == "Plans start at $49 a seat."
    assert events[-1] == LLMFinished("stop")
    assert [(s.kind, s.from_engine, s.to_engine) for s in reported] == [("llm", engine.name, "grounded")]
    assert per_call == reported
    assert standin.requests  # the primary really was asked first


async def test_mid_reply_failure_continues_without_repeating(primary: tuple[Any, LanguageModel]) -> None:
    standin, engine = primary
    standin.script.add("Our pricing starts at forty nine dollars.")
    standin.faults = FaultPlan(disconnect_after=4, times=1)  # a few words get through, then the line drops
    fallback = FakeLLM(["Our pricing starts at $49 a seat, billed monthly."], name="grounded")
    llm = FallbackLLM([engine, fallback], first_result_timeout_s=0.5)
    events = await run(llm)
    await llm.aclose()
    assert text_of(events) == "Our pricing starts at $49 a seat, billed monthly."
    said_by_primary = fallback.requests[0].already_said
    assert said_by_primary and "Our pricing starts at $49".startswith(said_by_primary.strip())
    assert llm.switches[0].reason.startswith("EngineError")


async def test_tool_call_is_not_handed_on_twice() -> None:
    call = ToolCall(id="c1", name="book_meeting", arguments={"day": "mon"})

    class AfterToolCall(FakeLLM):
        async def stream(self, request: LLMRequest):  # type: ignore[no-untyped-def,override]
            yield ToolCallDelta(call)
            raise EngineError("dropped after the tool call")

    primary = AfterToolCall(name="primary")
    backup = FakeLLM([FakeReply(text="Booked.", tool_calls=(call,))], name="backup")
    llm = FallbackLLM([primary, backup], first_result_timeout_s=0.5)
    events = await run(llm)
    assert [e.call.name for e in events if isinstance(e, ToolCallDelta)] == ["book_meeting"]
    assert text_of(events) == "Booked."


async def test_primary_is_probed_and_used_again_once_healthy(
    ollama: Any, ollama_settings: LLMSettings
) -> None:
    ollama.faults = FaultPlan(http_status=500, times=2)  # the failed request and the first probe
    ollama.script.add(ScriptedReply(text="Back on Ollama."))  # the refused request takes no reply
    fallback = FakeLLM(["From the fallback."], name="grounded")
    reported: list[EngineSwitch] = []
    llm = FallbackLLM(
        [OllamaLLM(ollama_settings), fallback],
        first_result_timeout_s=0.5,
        on_switch=reported.append,
        probe_interval_s=0.05,
    )
    assert text_of(await run(llm)) == "From the fallback."
    async with asyncio.timeout(3.0):
        while ollama.tag_requests < 2:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    assert text_of(await run(llm)) == "Back on Ollama."
    await llm.aclose()
    assert [(s.from_engine, s.to_engine, s.reason) for s in reported][1] == (
        "grounded",
        "ollama",
        "recovered",
    )
    assert reported[0].to_engine == "grounded"


async def test_every_engine_failing_is_an_engine_error() -> None:
    broken = FakeLLM([FakeReply(error=EngineError("down"))], name="a")
    also_broken = FakeLLM([FakeReply(error=EngineError("down too"))], name="b")
    llm = FallbackLLM([broken, also_broken], first_result_timeout_s=0.5)
    with pytest.raises(EngineError, match="every language model failed"):
        await run(llm)
    await llm.aclose()


async def test_the_last_engine_is_never_timed_out() -> None:
    slow_fallback = FakeLLM(["Slow but sure."], first_token_delay_s=0.4, name="slow")
    llm = FallbackLLM(
        [FakeLLM([FakeReply(error=EngineError("x"))]), slow_fallback], first_result_timeout_s=0.1
    )
    assert text_of(await run(llm)) == "Slow but sure."
    await llm.aclose()
