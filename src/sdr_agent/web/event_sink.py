"""The call's record sink, wrapped so that every stored turn is also told to the realtime client.

The call loop saves a caller turn when it is answered and an agent turn when it has been heard (or cut off),
so the client's ``user_transcript`` and ``agent_response`` follow exactly what the stored transcript says. An
interrupted agent turn also sends ``agent_response_correction`` with the words the caller actually heard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.ports import CallOutcome, CallRecordSink
from sdr_agent.web import protocol


class EventSink:
    def __init__(
        self,
        inner: CallRecordSink,
        send: Callable[[str], Awaitable[None]],
        full_text: Callable[[], str | None],
    ) -> None:
        self._inner = inner
        self._send = send
        self._full_text = full_text  # everything the interrupted turn meant to say, when still known

    async def save_turn(self, turn: TurnRecord) -> None:
        await self._inner.save_turn(turn)
        if turn.role == "user":
            if turn.message:
                await self._send(protocol.user_transcript(turn.message))
            return
        if not turn.message:
            return
        if turn.interrupted:
            original = self._full_text() or turn.message
            await self._send(protocol.agent_response(original))
            await self._send(protocol.agent_response_correction(original, turn.message))
        else:
            await self._send(protocol.agent_response(turn.message))

    async def merge_metadata(self, patch: dict[str, Any]) -> None:
        await self._inner.merge_metadata(patch)

    async def finish(self, outcome: CallOutcome) -> None:
        await self._inner.finish(outcome)
