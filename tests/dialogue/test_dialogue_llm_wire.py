"""Generative models over their real wire protocols (Ollama ``/api/chat`` with native ``tools``, OpenAI
``/v1/chat/completions`` with ``tools``) against the loopback stand-ins, through the dialogue: scripted tool
calls run end to end, a tool call written as plain text is never spoken, and the guardrails and compliance
rules hold for whatever the model says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from dialogue_support import MeetingRecorder, make_dialogue, say
from pydantic import SecretStr

from sdr_agent.engines.base import LanguageModel
from sdr_agent.engines.cloud.ollama import OllamaLLM
from sdr_agent.engines.cloud.openai_compat import OpenAICompatLLM
from sdr_agent.settings import LLMSettings
from sdr_agent.sim.llm_script import ScriptedReply
from sdr_agent.sim.ollama import OllamaStandIn
from sdr_agent.sim.openai_compat import OpenAIStandIn


@pytest.fixture(params=["ollama", "openai"])
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, LanguageModel]]:
    if request.param == "ollama":
        async with OllamaStandIn() as ollama:
            yield (
                ollama,
                OllamaLLM(LLMSettings(provider="ollama", base_url=ollama.base_url, request_timeout_s=5)),
            )
    else:
        async with OpenAIStandIn(models=["stand-in-model"]) as server:
            settings = LLMSettings(
                provider="openai",
                base_url=server.base_url,
                model="stand-in-model",
                api_key=SecretStr(server.api_key or ""),
                request_timeout_s=5,
            )
            yield server, OpenAICompatLLM(settings)


def system_prompt(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] or "" for m in body["messages"] if m["role"] == "system")


async def test_native_tool_call_books_after_the_callers_yes(wire: tuple[Any, LanguageModel]) -> None:
    standin, llm = wire
    meetings = MeetingRecorder()
    standin.script.add(
        ScriptedReply(text="Great.", tool_calls=(("book_meeting", {"when": "Tuesday at 3 pm"}),))
    )
    dialogue = make_dialogue(llm, meetings=meetings, variables={"customer_name": "Dana", "timezone": "UTC"})
    proposal = await say(dialogue, "Sure, Tuesday at 3 pm works for a demo.")
    assert "Just to confirm, Tuesday at 3 pm, shall I book it?" in proposal.text and not meetings.booked
    body = standin.requests[0]
    tool_names = [t["function"]["name"] for t in body["tools"]]
    assert {"book_meeting", "end_call"} <= set(tool_names)
    # The dialogue's typed plan reaches the model as guidance in the system prompt.
    assert "AI assistant" in system_prompt(body) and "A reply that would work" in system_prompt(body)
    standin.script.add("You're booked.")
    booked = await say(dialogue, "Yes.")
    assert [m.when_text for m in meetings.booked] == ["Tuesday at 3 pm"]
    assert "all set" in booked.text


@pytest.mark.parametrize(
    "written",
    [
        'Okay, goodbye! {"name": "end_call", "arguments": {"reason": "done"}}',
        'Goodbye! <tool_call>{"name": "end_call", "arguments": {}}</tool_call>',
        'Have a good one. end_call(reason="caller finished")',
        '[TOOL_CALLS] [{"name": "end_call", "arguments": {"reason": "done"}}]',
    ],
)
async def test_a_tool_call_written_as_text_runs_and_is_never_spoken(
    wire: tuple[Any, LanguageModel], written: str
) -> None:
    standin, llm = wire
    standin.script.add(written)
    turn = await say(make_dialogue(llm), "Alright, I think we're finished here?")
    assert turn.ends_call
    assert not any(mark in turn.text for mark in ("{", "<", "[", "end_call", "TOOL_CALLS"))


async def test_guardrails_and_rules_hold_for_a_real_wire_model(wire: tuple[Any, LanguageModel]) -> None:
    standin, llm = wire
    standin.script.add("It's $12 per seat and I'm a real person, so trust me.")
    dialogue = make_dialogue(llm)
    turn = await say(dialogue, "How much is it per seat?")
    assert "12" not in turn.text and "real person" not in turn.text
    asked = len(standin.requests)
    opt_out = await say(dialogue, "Please take me off your calling list.")
    assert opt_out.ends_call and len(standin.requests) == asked  # the model was not asked


class ScriptedLlama:
    """Stands in for ``llama_cpp.Llama`` (the native library is not installed here): answers in the OpenAI
    chunk format llama-cpp-python's function-calling chat handler streams."""

    created: ClassVar[list[dict[str, Any]]] = []
    replies: ClassVar[list[list[dict[str, Any]]]] = []

    def __init__(self, **kwargs: Any) -> None:
        ScriptedLlama.created.append(kwargs)
        self.requests: list[dict[str, Any]] = []

    def create_chat_completion(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        yield from ScriptedLlama.replies.pop(0)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_llamacpp_function_calling_chat_format(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from sdr_agent.engines.local.llamacpp_llm import LlamaCppLLM

    module = types.ModuleType("llama_cpp")
    module.Llama = ScriptedLlama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "book_meeting", "arguments": '{"when": "Tuesday at 3 pm"}'},
    }
    ScriptedLlama.replies = [
        [
            _chunk({"role": "assistant", "content": "Great."}),
            _chunk({"tool_calls": [call]}),
            _chunk({}, "tool_calls"),
        ],
        [
            _chunk({"content": "Bye! "}),
            _chunk({"content": '{"name": "end_call", "arguments": {}}'}),
            _chunk({}, "stop"),
        ],
    ]
    llm = LlamaCppLLM(LLMSettings(provider="llamacpp", gguf_path=str(gguf)))
    meetings = MeetingRecorder()
    dialogue = make_dialogue(llm, meetings=meetings)
    proposal = await say(dialogue, "Sure, Tuesday at 3 pm works for a demo.")
    assert ScriptedLlama.created[-1]["chat_format"] == "chatml-function-calling"
    sent = llm._model().requests[0]
    assert sent["tool_choice"] == "auto" and "book_meeting" in [t["function"]["name"] for t in sent["tools"]]
    assert "shall I book it?" in proposal.text
    await say(dialogue, "Yes.")
    assert meetings.booked
    bye = await say(dialogue, "Thanks, that's everything?")
    assert bye.ends_call and "end_call" not in bye.text and "{" not in bye.text
