"""Fallback over language models.

A first event (text or tool call) later than ``first_result_timeout_s``, an error or a broken stream moves the
turn to the next engine. If nothing was said yet, the next engine simply answers the same request. If the
failure came mid-reply, the next engine **restarts** the answer: it gets the same request plus
``hints["already_said"]`` (the text already streamed), and its opening words are withheld while they repeat
what the caller heard, so a fallback that reproduces the start continues where the first one stopped, while
one that phrases it differently starts over audibly (like a person correcting themselves). Tool calls already
handed on are never handed on twice. The last engine is never timed out: there is nothing after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator

from sdr_agent.engines.base import (
    ChatMessage,
    EngineError,
    LanguageModel,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    TextDelta,
    ToolCallDelta,
)
from sdr_agent.engines.fallback.repeat_filter import RepeatFilter
from sdr_agent.engines.fallback.roster import EngineRoster, EngineSwitch, SwitchListener, describe_failure


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
        await _close(stream)


class FallbackLLM:
    def __init__(
        self,
        engines: list[LanguageModel],
        *,
        first_result_timeout_s: float = 3.0,
        on_switch: SwitchListener | None = None,
        probe_interval_s: float = 10.0,
    ) -> None:
        self.roster = EngineRoster(
            "llm",
            engines,
            probe=probe_language_model,
            on_switch=on_switch,
            probe_interval_s=probe_interval_s,
            probe_timeout_s=max(2 * first_result_timeout_s, 5.0),
        )
        self._budget = first_result_timeout_s
        self._last_used = 0
        self.name = "+".join(self.roster.name(i) for i in range(len(engines)))

    @property
    def switches(self) -> list[EngineSwitch]:
        return self.roster.switches

    async def aclose(self) -> None:
        await self.roster.aclose()

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        return self._stream(request)

    async def _stream(self, request: LLMRequest) -> AsyncGenerator[LLMEvent, None]:
        roster = self.roster
        candidates = roster.candidates()
        if candidates[0] != self._last_used:
            reason = "recovered" if candidates[0] < self._last_used else "unhealthy"
            roster.report(self._last_used, candidates[0], reason)
        said = ""
        handed_on: set[str] = set()
        for position, index in enumerate(candidates):
            self._last_used = index
            attempt = request
            if said:
                attempt = dataclasses.replace(request, hints={**request.hints, "already_said": said})
            repeats = RepeatFilter(said)
            budget = None if position == len(candidates) - 1 else self._budget
            engine = roster.engines[index]
            try:
                async with contextlib.aclosing(self._attempt(engine, attempt, budget)) as events:
                    finished = False
                    async for event in events:
                        if isinstance(event, TextDelta):
                            text = repeats.feed(event.text)
                            if text:
                                said += text
                                yield TextDelta(text)
                        elif isinstance(event, ToolCallDelta):
                            key = f"{event.call.name}:{json.dumps(event.call.arguments, sort_keys=True)}"
                            if key not in handed_on:
                                handed_on.add(key)
                                yield event
                        else:
                            finished = True
                            yield event
                    if not finished:
                        yield LLMFinished()
                return
            except Exception as exc:
                reason = describe_failure(exc)
                if isinstance(exc, TimeoutError):
                    reason = f"no first token within {self._budget:.1f}s"
                roster.mark_failed(index)
                if position == len(candidates) - 1:
                    raise EngineError(f"every language model failed; last: {reason}") from exc
                roster.report(index, candidates[position + 1], reason)

    @staticmethod
    async def _attempt(
        engine: LanguageModel, request: LLMRequest, budget: float | None
    ) -> AsyncGenerator[LLMEvent, None]:
        stream = engine.stream(request)
        try:
            async with asyncio.timeout(budget):
                try:
                    first = await anext(stream)
                except StopAsyncIteration:
                    return
            yield first
            async for event in stream:
                yield event
        finally:
            await _close(stream)


async def _close(iterator: AsyncIterator[object]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
