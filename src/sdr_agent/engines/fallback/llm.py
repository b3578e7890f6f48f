"""Fallback over language models.

A first event (text or tool call) later than ``first_result_timeout_s``, an error or a broken stream moves the
turn to the next engine. If nothing was said yet, the next engine simply answers the same request. If the
failure came mid-reply, the next engine **restarts** the answer: it gets the same request plus
``already_said`` (the text already streamed), and its opening words are withheld while they repeat
what the caller heard, so a fallback that reproduces the start continues where the first one stopped, while
one that phrases it differently starts over audibly (like a person correcting themselves). Tool calls already
handed on are never handed on twice. The last engine is never timed out: there is nothing after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator

from sdr_agent.engines.base import (
    ChatMessage,
    LanguageModel,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCallDelta,
    close_quietly,
)
from sdr_agent.engines.fallback.adapter import FallbackAdapter, first_within
from sdr_agent.engines.fallback.repeat_filter import RepeatFilter
from sdr_agent.engines.fallback.roster import SwitchListener


async def probe_language_model(engine: LanguageModel) -> None:
    """The engine's own ``probe()`` when it has one (cheap endpoint), else a one-token request."""
    probe = getattr(engine, "probe", None)
    if probe is not None:
        await probe()
        return
    request = LLMRequest(messages=[ChatMessage(role="user", content="ping")], max_tokens=1)
    stream = engine.stream(request)
    try:
        await anext(stream)
    except StopAsyncIteration:
        pass
    finally:
        await close_quietly(stream)


class FallbackLLM(FallbackAdapter[LanguageModel]):
    def __init__(
        self,
        engines: list[LanguageModel],
        *,
        first_result_timeout_s: float = 3.0,
        on_switch: SwitchListener | None = None,
        probe_interval_s: float = 10.0,
    ) -> None:
        super().__init__(
            "llm",
            engines,
            probe=probe_language_model,
            first_result_timeout_s=first_result_timeout_s,
            on_switch=on_switch,
            probe_interval_s=probe_interval_s,
        )

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        reply = _Reply()

        def attempt(index: int, budget: float | None) -> AsyncGenerator[LLMEvent, None]:
            return reply.continue_on(self.roster.engines[index], request, budget)

        return self.fail_over(
            attempt,
            timeout_reason=f"no first token within {self.budget_s:.1f}s",
            all_failed="every language model failed",
        )


class _Reply:
    """What one turn has handed on so far, across the engines that tried it."""

    def __init__(self) -> None:
        self.said = ""
        self.handed_on: set[str] = set()

    async def continue_on(
        self, engine: LanguageModel, request: LLMRequest, budget: float | None
    ) -> AsyncGenerator[LLMEvent, None]:
        attempt = request
        if self.said:
            attempt = dataclasses.replace(request, already_said=self.said)
        repeats = RepeatFilter(self.said)
        async with contextlib.aclosing(first_within(engine.stream(attempt), budget)) as events:
            finished = False
            async for event in events:
                if isinstance(event, TextDelta):
                    text = repeats.feed(event.text)
                    if text:
                        self.said += text
                        yield TextDelta(text)
                elif isinstance(event, ToolCallDelta):
                    key = f"{event.call.name}:{json.dumps(event.call.arguments, sort_keys=True)}"
                    if key not in self.handed_on:
                        self.handed_on.add(key)
                        yield event
                else:
                    finished = True
                    yield event
            if not finished:
                yield LLMFinished()
