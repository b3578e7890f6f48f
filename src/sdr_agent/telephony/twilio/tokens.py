"""Per-call Media Stream tokens: random, bound to one call sid, single use, short-lived.

The TwiML webhook issues a token and puts it in the Stream's ``<Parameter name="token">``; the media
WebSocket consumes it from ``start.customParameters`` and refuses the stream (1008) when it does not match.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sdr_agent.services import Services

_EXTRAS_KEY = "call_tokens"
_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class _IssuedToken:
    value: str
    expires_at: float


class CallTokenStore:
    """In-memory tokens keyed by call sid. One token per call: issuing again replaces the previous one."""

    def __init__(self, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._ttl_s = ttl_s
        self._clock = clock
        self._tokens: dict[str, _IssuedToken] = {}
        # Webhooks run on the event loop but tests and the CLI may touch the store from threads.
        self._lock = threading.Lock()

    def issue(self, call_sid: str) -> str:
        if not call_sid:
            raise ValueError("call_sid is required")
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            self._tokens[call_sid] = _IssuedToken(token, now + self._ttl_s)
        return token

    def consume(self, call_sid: str, token: str | None) -> bool:
        """True once for the right token of a live call; a wrong guess does not burn the real token."""
        now = self._clock()
        with self._lock:
            issued = self._tokens.get(call_sid)
            if issued is None or not token:
                return False
            if now >= issued.expires_at:
                del self._tokens[call_sid]
                return False
            if not hmac.compare_digest(issued.value.encode(), token.encode()):
                return False
            del self._tokens[call_sid]
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def _drop_expired(self, now: float) -> None:
        expired = [sid for sid, issued in self._tokens.items() if now >= issued.expires_at]
        for sid in expired:
            del self._tokens[sid]


def call_token_store(services: Services) -> CallTokenStore:
    """The process-wide store, created on first use with ``settings.call_token_ttl_s``."""
    store = services.extras.get(_EXTRAS_KEY)
    if not isinstance(store, CallTokenStore):
        store = CallTokenStore(ttl_s=services.settings.call_token_ttl_s)
        services.extras[_EXTRAS_KEY] = store
    return store
