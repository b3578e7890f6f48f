"""Limits for the call sockets (Twilio media stream, realtime conversation): a frame too large, a flood of
frames, or no ``start`` in time closes *that* socket with a clear close code and is counted
(``sdr_socket_rejections_total{endpoint,reason}``); other calls never notice.

Close codes: 1009 (message too big) for an oversized frame, 1008 (policy violation) for a flood or a
socket that never sent ``start``, as RFC 6455 defines them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from sdr_agent.settings import SecuritySettings

log = logging.getLogger(__name__)

MESSAGE_TOO_BIG = 1009
POLICY_VIOLATION = 1008


class Rejection(StrEnum):
    OVERSIZED = "oversized_frame"
    FLOOD = "flood"
    NO_START = "no_start"


@dataclass(frozen=True, slots=True)
class SocketLimits:
    max_frame_bytes: int = 64 * 1024
    max_frames_per_s: int = 250
    start_timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> SocketLimits:
        return cls(security.ws_max_frame_bytes, security.ws_max_frames_per_s, security.ws_start_timeout_s)


class SocketAbuse(Exception):
    def __init__(self, rejection: Rejection, code: int, reason: str) -> None:
        super().__init__(reason)
        self.rejection = rejection
        self.code = code
        self.reason = reason


@dataclass
class FrameGuard:
    """Per socket. A token bucket: a burst of two seconds' allowance (Twilio delivers a late stretch of
    audio at once after a network hiccup), then ``max_frames_per_s`` sustained."""

    limits: SocketLimits
    clock: Any = time.monotonic
    _tokens: float = field(init=False)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._last = self.clock()

    @property
    def burst(self) -> int:
        return 2 * self.limits.max_frames_per_s

    def check(self, frame: str | bytes) -> None:
        """Raise SocketAbuse when this frame breaks a limit."""
        size = len(frame.encode() if isinstance(frame, str) and not frame.isascii() else frame)
        if size > self.limits.max_frame_bytes:
            reason = f"frame of {size} bytes over {self.limits.max_frame_bytes}"
            raise SocketAbuse(Rejection.OVERSIZED, MESSAGE_TOO_BIG, reason)
        now = self.clock()
        refill = (now - self._last) * self.limits.max_frames_per_s
        self._tokens = min(float(self.burst), self._tokens + refill)
        self._last = now
        if self._tokens < 1.0:
            reason = f"more than {self.limits.max_frames_per_s} frames per second"
            raise SocketAbuse(Rejection.FLOOD, POLICY_VIOLATION, reason)
        self._tokens -= 1.0


def no_start(limits: SocketLimits) -> SocketAbuse:
    return SocketAbuse(
        Rejection.NO_START, POLICY_VIOLATION, f"no start message within {limits.start_timeout_s:g} s"
    )


def count_rejection(connection: HTTPConnection, endpoint: str, rejection: Rejection) -> None:
    """Count in the app's tally (tests, logs) and its Prometheus registry when metrics run."""
    state = connection.app.state
    tally: Tally[tuple[str, str]] | None = getattr(state, "socket_rejections", None)
    if tally is None:
        tally = Tally()
        state.socket_rejections = tally
    tally[(endpoint, rejection.value)] += 1
    metrics = getattr(getattr(state, "services", None), "metrics", None)
    registry = getattr(metrics, "registry", None)
    if registry is None:
        return
    counter = getattr(state, "socket_rejection_counter", None)
    if counter is None or getattr(state, "socket_rejection_registry", None) is not registry:
        from prometheus_client import Counter

        counter = Counter(
            "sdr_socket_rejections", "Call sockets closed for abuse, by endpoint and reason.",
            ["endpoint", "reason"], registry=registry,
        )
        state.socket_rejection_counter = counter
        state.socket_rejection_registry = registry
    counter.labels(endpoint=endpoint, reason=rejection.value).inc()


def socket_limits(connection: HTTPConnection) -> SocketLimits:
    return SocketLimits.from_settings(connection.app.state.settings.security)


def guard_receive(websocket: WebSocket, endpoint: str) -> FrameGuard:
    """Check every frame this socket receives, whatever reads it (``receive_text``/``receive_json`` go
    through ``receive``): on abuse the socket is closed with its code, counted, and the reader sees a
    ``WebSocketDisconnect``, the same as a client that hung up."""
    guard = FrameGuard(socket_limits(websocket))
    original = websocket.receive

    async def receive() -> Message:
        message = await original()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            try:
                guard.check(text if text is not None else message.get("bytes") or b"")
            except SocketAbuse as abuse:
                log.warning("closing %s socket: %s", endpoint, abuse.reason)
                count_rejection(websocket, endpoint, abuse.rejection)
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(code=abuse.code, reason=abuse.reason)
                raise WebSocketDisconnect(abuse.code, abuse.reason) from abuse
        return message

    websocket.receive = receive  # type: ignore[method-assign]
    return guard
