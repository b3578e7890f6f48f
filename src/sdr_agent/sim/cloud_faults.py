"""Faults a cloud stand-in can inject, so tests can show the fallback adapters carry a call through them."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(slots=True)
class FaultPlan:
    """What goes wrong, for the next ``times`` requests or connections (``None`` = every one).

    Counts are in the stand-in's units: streamed chunks for the LLM servers and for speak, audio frames
    received for listen.
    """

    first_byte_delay_s: float = 0.0  # slow first byte / first message
    disconnect_after: int | None = None  # drop the connection mid-stream
    http_status: int | None = None  # refuse the request (or the WebSocket handshake) with this status
    malformed_after: int | None = None  # send a chunk that does not parse
    error_after: int | None = None  # send an in-stream error object (LLM servers)
    times: int | None = None
    hits: int = 0  # requests or connections this plan has affected so far

    @property
    def active(self) -> bool:
        return self.times is None or self.times > 0

    def take(self) -> FaultPlan:
        """The faults for one request: this plan while it lasts, then a harmless one."""
        if not self.active:
            return FaultPlan()
        if self.times is not None:
            self.times -= 1
        self.hits += 1
        return replace(self, times=None, hits=0)
