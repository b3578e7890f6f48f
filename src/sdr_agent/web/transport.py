"""The realtime socket as a MediaTransport: a pure translation layer beside the Twilio serializer.

The call loop speaks 20 ms μ-law frames, marks and clears. Here frames become ``audio`` events in the client's
format, a clear becomes an ``interruption`` event, and marks are echoed back to the call loop when the frames
before them have played out (the SDK and browsers never echo marks; Twilio does, so this keeps the loop's
contract). Event ids rise across audio and interruption events: the client drops audio whose id is not above
the last interruption's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from fastapi import WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from sdr_agent.web import protocol
from sdr_agent.web.audio_format import AudioFormat, StreamConverter

log = logging.getLogger(__name__)


class SocketSender:
    """One lock so messages from the call loop, the turn writer and pings never interleave."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._lock = asyncio.Lock()
        self.closed_by_agent = False

    @property
    def open(self) -> bool:
        return (
            self._ws.client_state is WebSocketState.CONNECTED
            and self._ws.application_state is WebSocketState.CONNECTED
        )

    async def send(self, text: str) -> None:
        if not self.open:
            return
        async with self._lock:
            try:
                await self._ws.send_text(text)
            except (RuntimeError, OSError, WebSocketDisconnect):
                log.debug("realtime socket closed while sending")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_by_agent = True
        if self.open:
            try:
                await self._ws.close(code=code, reason=reason[:120])
            except (RuntimeError, OSError):
                log.debug("realtime socket already closed")


class RealtimeTransport:
    def __init__(
        self, sender: SocketSender, output_format: AudioFormat, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sender = sender
        self._format = output_format
        self._converter = StreamConverter(output_format, to_call=False)
        self._clock = clock
        self._event_id = 0
        self._playout = 0.0
        self._mark_timers: dict[str, asyncio.TimerHandle] = {}
        self.on_mark: Callable[[str], None] | None = None
        self.interruptions_sent = 0

    def _next_id(self) -> int:
        self._event_id += 1
        return self._event_id

    async def send_media(self, ulaw: bytes) -> None:
        now = self._clock()
        self._playout = max(self._playout, now) + len(ulaw) / 8000.0
        payload = self._converter.convert(ulaw)
        if payload:
            await self._sender.send(protocol.audio(payload, self._next_id()))

    async def send_mark(self, name: str) -> None:
        delay = max(0.0, self._playout - self._clock())
        loop = asyncio.get_running_loop()
        self._mark_timers[name] = loop.call_later(delay, self._echo, name)

    def _echo(self, name: str) -> None:
        self._mark_timers.pop(name, None)
        if self.on_mark is not None:
            self.on_mark(name)

    async def send_clear(self) -> None:
        # Like Twilio: marks still queued are echoed at once after a clear (the call loop expects that).
        pending = list(self._mark_timers)
        for name in pending:
            self._mark_timers.pop(name).cancel()
        self._playout = self._clock()
        self._converter = StreamConverter(self._format, to_call=False)  # drop resampler state of cut audio
        self.interruptions_sent += 1
        await self._sender.send(protocol.interruption(self._next_id()))
        for name in pending:
            self._echo(name)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        for timer in self._mark_timers.values():
            timer.cancel()
        self._mark_timers.clear()
        await self._sender.close(code, reason)
