"""What the chat-model stand-ins share: the reply script, the fault plan, the loopback server, and a streamed
reply that meets the planned fault (slow first byte, disconnect, malformed frame, in-stream error)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.llm_script import ReplyScript, ScriptedReply
from sdr_agent.sim.loopback_server import LoopbackServer


@dataclass(frozen=True, slots=True)
class StreamFraming:
    """How one wire protocol frames streamed JSON chunks, and the frames its faults inject."""

    prefix: bytes
    suffix: bytes
    malformed: bytes
    error: bytes
    end: bytes = b""

    def frame(self, chunk: dict[str, Any]) -> bytes:
        return self.prefix + json.dumps(chunk).encode() + self.suffix


class ChatStandIn:
    def __init__(
        self,
        replies: Iterable[ScriptedReply | str],
        *,
        models: Iterable[str],
        chunk_interval_s: float,
        routes: Sequence[BaseRoute],
        framing: StreamFraming,
    ) -> None:
        self.script = ReplyScript(replies)
        self.models = list(models)
        self.chunk_interval_s = chunk_interval_s
        self.faults = FaultPlan(times=0)
        self.requests: list[dict[str, Any]] = []
        self._framing = framing
        self._server = LoopbackServer(Starlette(routes=list(routes)))

    @property
    def base_url(self) -> str:
        return self._server.url

    async def __aenter__(self) -> Self:
        await self._server.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.stop()

    async def _stream(self, chunks: list[dict[str, Any]], fault: FaultPlan) -> AsyncIterator[bytes]:
        framing = self._framing
        if fault.first_byte_delay_s:
            await asyncio.sleep(fault.first_byte_delay_s)
        for sent, chunk in enumerate(chunks):
            if fault.disconnect_after is not None and sent >= fault.disconnect_after:
                raise ConnectionAbortedError("stand-in fault: dropped mid-stream")
            if fault.malformed_after is not None and sent == fault.malformed_after:
                yield framing.malformed
            if fault.error_after is not None and sent == fault.error_after:
                yield framing.error
                return
            yield framing.frame(chunk)
            await asyncio.sleep(self.chunk_interval_s)
        if framing.end:
            yield framing.end
