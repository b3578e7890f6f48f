"""Server pings on the realtime socket; the round trip of the last pong is reported in the next ping."""

from __future__ import annotations

import asyncio
import time

from sdr_agent.web import protocol
from sdr_agent.web.transport import SocketSender

PING_INTERVAL_S = 5.0


class Pinger:
    def __init__(self, sender: SocketSender, interval_s: float = PING_INTERVAL_S) -> None:
        self._sender = sender
        self._interval = interval_s
        self._sent: dict[int, float] = {}
        self._next_id = 0
        self.last_rtt_ms: int | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._next_id += 1
            self._sent = {self._next_id: time.monotonic()}  # only the latest ping is worth timing
            await self._sender.send(protocol.ping(self._next_id, self.last_rtt_ms))

    def on_pong(self, event_id: int) -> None:
        sent = self._sent.pop(event_id, None)
        if sent is not None:
            self.last_rtt_ms = round((time.monotonic() - sent) * 1000)
