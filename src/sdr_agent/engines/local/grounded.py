"""The offline default ``LanguageModel``: a grounded answerer, not a general LLM.

It says exactly what the dialogue layer composed for this turn (``request.brief``): sentences quoted from the
retrieved knowledge base and lines from the agent's own script, and it makes the tool calls the dialogue
decided on. It never writes a fact of its own, so it cannot invent one. Without a brief (a request from
outside a call) it quotes the first line of the top retrieved passage, or says it will follow up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sdr_agent.engines.base import LLMEvent, LLMFinished, LLMRequest, TextDelta, ToolCallDelta

WORDS_PER_DELTA = 4
NO_BRIEF_LINE = "I'll follow up with the details after our call."


class GroundedResponder:
    """``LanguageModel`` that speaks the dialogue's composed reply, word group by word group."""

    name = "grounded"

    def __init__(self, max_sentences: int = 2) -> None:
        self.max_sentences = max_sentences

    def text_for(self, request: LLMRequest) -> str:
        if request.brief is not None:
            return " ".join(part.strip() for part in request.brief.draft if part.strip())
        lines = [line for p in request.context[:1] for line in p.text.splitlines() if line.strip()]
        sentences = [line.strip() for line in lines if not line.lstrip().startswith("#")]
        if sentences:
            return sentences[0]
        return NO_BRIEF_LINE

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        words = self.text_for(request).split()
        for start in range(0, len(words), WORDS_PER_DELTA):
            chunk = " ".join(words[start : start + WORDS_PER_DELTA])
            yield TextDelta(chunk if start == 0 else " " + chunk)
            await asyncio.sleep(0)  # a cancelling consumer gets in between word groups
        calls = request.brief.calls if request.brief is not None else ()
        for call in calls:
            yield ToolCallDelta(call)
        yield LLMFinished("tool_calls" if calls else "stop")
