"""One LLM round with tool-call checking: text streams through, every tool call is validated, and if the
model sent invalid arguments it is asked once more with the error (the invalid call is never executed)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace

from sdr_agent.dialogue.speech_text import SpeechTextStream, clean_for_speech
from sdr_agent.dialogue.text_tool_calls import TextToolCallFilter
from sdr_agent.dialogue.tool_args import ToolArgumentError, ValidatedCall
from sdr_agent.engines.base import (
    ChatMessage,
    LanguageModel,
    LLMFinished,
    LLMRequest,
    ReplyAct,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    TurnBrief,
    close_quietly,
)

log = logging.getLogger(__name__)

MAX_RETRIES = 1


@dataclass(frozen=True, slots=True)
class RejectedCall:
    call: ToolCall
    error: str
    final: bool  # no retry follows


LLMTurnItem = TextDelta | ValidatedCall | RejectedCall


def retry_request(request: LLMRequest, rejected: list[tuple[ToolCall, str]]) -> LLMRequest:
    messages = [
        *request.messages,
        ChatMessage("assistant", "", tool_calls=tuple(call for call, _ in rejected)),
    ]
    for call, error in rejected:
        messages.append(
            ChatMessage(
                "tool",
                f"Error: {error}. The tool was not run. Correct the arguments, or ask the caller for what "
                "is missing.",
                tool_call_id=call.id,
                name=call.name,
            )
        )
    errors = "; ".join(error for _, error in rejected)
    retry_line = (
        "What day and time would work best for you?"
        if "when" in errors
        else "Sorry, could you say that once more?"
    )
    brief = TurnBrief(
        ReplyAct.RETRY_TOOL,
        draft=(retry_line,),
        guidance=(f"The tool call was rejected: {errors}",),
    )
    return replace(request, messages=messages, brief=brief)


async def stream_llm_turn(
    llm: LanguageModel,
    request: LLMRequest,
    validate: Callable[[ToolCall], ValidatedCall],
) -> AsyncGenerator[LLMTurnItem, None]:
    attempt_request = request
    for attempt in range(MAX_RETRIES + 1):
        rejected: list[tuple[ToolCall, str]] = []
        text_calls = TextToolCallFilter([spec.name for spec in attempt_request.tools])
        stream = llm.stream(attempt_request)

        def checked(
            call: ToolCall,
            rejected: list[tuple[ToolCall, str]] = rejected,
            final: bool = attempt >= MAX_RETRIES,
        ) -> ValidatedCall | RejectedCall:
            try:
                return validate(call)
            except ToolArgumentError as exc:
                rejected.append((call, str(exc)))
                return RejectedCall(call, str(exc), final=final)

        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    if speakable := text_calls.feed(event.text):
                        yield TextDelta(speakable)
                elif isinstance(event, ToolCallDelta):
                    yield checked(event.call)
                elif isinstance(event, LLMFinished):
                    break
        finally:
            await close_quietly(stream)
        tail, written_calls = text_calls.finish()
        if tail:
            yield TextDelta(tail)
        if text_calls.dropped:
            log.warning("model wrote a tool call as text; not spoken: %r", text_calls.dropped[:200])
        for call in written_calls:
            yield checked(call)
        if not rejected or attempt >= MAX_RETRIES:
            return
        attempt_request = retry_request(attempt_request, rejected)


async def speak_tool_results(
    llm: LanguageModel,
    request: LLMRequest,
    results: list[tuple[ValidatedCall, str, str]],
    validate: Callable[[ToolCall], ValidatedCall],
) -> AsyncGenerator[str, None]:
    """A second round so the model can phrase tool results ((call, result value, summary) triples); the
    summaries are said instead when the model says nothing. Yields speakable text pieces."""
    messages = [
        *request.messages,
        ChatMessage("assistant", "", tool_calls=tuple(v.call for v, _, _ in results)),
    ]
    messages += [
        ChatMessage("tool", value, tool_call_id=v.call.id, name=v.tool.name) for v, value, _ in results
    ]
    summary = " ".join(spoken for _, _, spoken in results if spoken)
    brief = TurnBrief(ReplyAct.TOOL_RESULT, draft=(summary,) if summary else ())
    follow = replace(request, messages=messages, tools=[], brief=brief)
    speech = SpeechTextStream()
    said = False
    async with contextlib.aclosing(stream_llm_turn(llm, follow, validate)) as items:
        async for item in items:
            if isinstance(item, TextDelta) and (piece := speech.feed(item.text)):
                said = True
                yield piece
    if tail := speech.flush():
        said = True
        yield tail
    if not said and summary:
        yield clean_for_speech(summary) + " "
