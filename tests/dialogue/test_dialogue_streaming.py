from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dialogue_support import KeywordRetriever, agent_config, make_dialogue, say

from sdr_agent.dialogue.base import SpeakText
from sdr_agent.engines.base import EngineError, LLMEvent, LLMFinished, LLMRequest, ReplyAct, TextDelta
from sdr_agent.engines.fakes import FakeLLM


class EndlessLLM:
    name = "endless"

    def __init__(self) -> None:
        self.closed = False
        self.words = 0

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        try:
            while True:
                self.words += 1
                yield TextDelta(f"word{self.words}. ")
                await asyncio.sleep(0)
        finally:
            self.closed = True
        yield LLMFinished()


async def test_closing_the_answer_cancels_the_llm_stream() -> None:
    llm = EndlessLLM()
    dialogue = make_dialogue(llm)
    events = dialogue.respond("Tell me everything about your product.")
    first = await events.__anext__()  # type: ignore[attr-defined]
    assert isinstance(first, SpeakText)
    await events.aclose()  # type: ignore[attr-defined]
    assert llm.closed
    assert llm.words < 5


async def test_llm_failure_propagates_so_the_session_can_say_the_fallback_line() -> None:
    from sdr_agent.engines.fakes import FakeReply

    dialogue = make_dialogue(
        FakeLLM([FakeReply(text="one two three", error=EngineError("down"), error_after_words=1)])
    )
    with pytest.raises(EngineError):
        await say(dialogue, "How much is it?")
    assert dialogue.fallback_line().startswith("Sorry")


async def test_retrieval_failure_answers_without_context() -> None:
    class BrokenRetriever(KeywordRetriever):
        async def __call__(self, question, document_ids, k):  # type: ignore[no-untyped-def]
            raise RuntimeError("chroma unavailable")

    llm = FakeLLM(["I'll follow up on that."])
    turn = await say(make_dialogue(llm, retriever=BrokenRetriever()), "How much does it cost?")
    assert turn.text == "I'll follow up on that."
    assert llm.requests[0].context == []


async def test_agent_llm_settings_pass_through() -> None:
    config = agent_config()
    config["agent"]["prompt"].update({"temperature": 0.2, "max_tokens": 120})
    llm = FakeLLM(["Sure."])
    await say(make_dialogue(llm, config=config), "Tell me more about the product.")
    request = llm.requests[0]
    assert (request.temperature, request.max_tokens) == (0.2, 120)
    assert {tool.name for tool in request.tools} == {"end_call", "book_meeting"}
    assert request.brief is not None and request.brief.act in (ReplyAct.ANSWER, ReplyAct.FOLLOW_UP)
