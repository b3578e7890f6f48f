"""A deterministic stand-in LLM: acknowledges what the caller said, so the call loop runs without a model.

Used for provider "grounded" until the grounded responder exists. It quotes the caller's last words back
(at most ``MAX_ECHO_WORDS``), which also makes recognition errors audible in demos.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from sdr_agent.engines.base import LLMEvent, LLMFinished, LLMRequest, TextDelta

MAX_ECHO_WORDS = 12
NOTHING_HEARD = "Sorry, I didn't catch that. Could you say it again?"
_WORD = re.compile(r"\S+")


def acknowledgement(user_text: str) -> str:
    words = _WORD.findall(user_text)
    if not words:
        return NOTHING_HEARD
    quoted = " ".join(words[:MAX_ECHO_WORDS]).rstrip(".,!?;:")
    if len(words) > MAX_ECHO_WORDS:
        quoted += " ..."
    return f"Thanks. I heard: {quoted}. Could you tell me a little more?"


class EchoResponder:
    """``LanguageModel`` that answers every turn with a short acknowledgement of the last user message."""

    name = "echo"

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        for index, word in enumerate(_WORD.findall(acknowledgement(last_user))):
            yield TextDelta(word if index == 0 else " " + word)
            await asyncio.sleep(0)  # let a cancelling consumer in between words, as with a real model
        yield LLMFinished("stop")
