"""Per-key rate limits and a brute-force throttle on failed authentication (429 + ``Retry-After``).

Two fixed-window counters per request, counted in one database round trip so every replica enforces the
same limit (on PostgreSQL; on SQLite, a single process, they are kept in memory unless
``SDR_SECURITY__RATE_LIMIT_STORAGE=database``):
- ``key:<hash>``: requests made with one API key (the key itself is never stored, only a hash of it);
- ``fail:<address>``: failed authentications (wrong key, bad Twilio signature) from one client address.
  Past the limit every request from that address is refused until the window ends, *even with the right
  key*: otherwise a guess that answers 200 instead of 429 would still tell the attacker it was right.
A database that cannot count fails open (logged): an outage of the counters must not take the API down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import HTTPException
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection

from sdr_agent.settings import SecuritySettings
from sdr_agent.storage.db import Database
from sdr_agent.storage.repos import rate_limits as counters_repo

log = logging.getLogger(__name__)

Window = tuple[str, int]  # (bucket, window start in unix seconds)
_CLEANUP_EVERY_S = 60.0


class CounterStore(Protocol):
    async def apply(self, peek: list[Window], hit: list[Window]) -> tuple[list[int], list[int]]:
        """Counts of ``peek`` (unchanged) and of ``hit`` after adding one, in one step."""
        ...


@dataclass
class MemoryCounters:
    counts: dict[Window, int] = field(default_factory=dict)

    async def apply(self, peek: list[Window], hit: list[Window]) -> tuple[list[int], list[int]]:
        if len(self.counts) > 100_000:
            newest = max(start for _, start in self.counts)
            self.counts = {w: n for w, n in self.counts.items() if w[1] >= newest - 3600}
        hits = []
        for window in hit:
            self.counts[window] = self.counts.get(window, 0) + 1
            hits.append(self.counts[window])
        return [self.counts.get(w, 0) for w in peek], hits


class DatabaseCounters:
    def __init__(self, db: Database, keep_s: int, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._keep_s = keep_s
        self._clock = clock
        self._next_cleanup = 0.0

    async def apply(self, peek: list[Window], hit: list[Window]) -> tuple[list[int], list[int]]:
        now = self._clock()
        async with self._db.session() as session:
            peeked = [await counters_repo.count(session, b, w) for b, w in peek]
            hits = [await counters_repo.hit(session, b, w) for b, w in hit]
            if now >= self._next_cleanup:
                self._next_cleanup = now + _CLEANUP_EVERY_S
                await counters_repo.forget_before(session, int(now) - self._keep_s)
        return peeked, hits


class Throttled(HTTPException):
    def __init__(self, retry_after_s: int, detail: str) -> None:
        super().__init__(status_code=429, detail=detail, headers={"Retry-After": str(max(1, retry_after_s))})


class RateLimiter:
    def __init__(
        self, settings: SecuritySettings, store: CounterStore, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._settings.rate_limit_enabled

    def _window(self, prefix: str, name: str, length_s: int) -> tuple[Window, int]:
        now = self._clock()
        start = int(now // length_s * length_s)
        return (f"{prefix}:{name}"[:128], start), math.ceil(start + length_s - now)

    async def _apply(self, peek: list[Window], hit: list[Window]) -> tuple[list[int], list[int]] | None:
        try:
            return await self._store.apply(peek, hit)
        except (TimeoutError, SQLAlchemyError, OSError):
            log.warning("rate-limit counters unavailable; request allowed", exc_info=True)
            return None

    async def admit_key(self, key: str, client: str) -> None:
        """A request with a valid key: raise Throttled when its address is blocked or the key is over."""
        if not self.enabled:
            return
        s = self._settings
        fail_window, fail_retry = self._window("fail", client, s.failed_auth_window_s)
        key_window, key_retry = self._window("key", _key_id(key), s.key_window_s)
        counted = await self._apply([fail_window], [key_window])
        if counted is None:
            return
        (failures,), (requests,) = counted
        if failures >= s.failed_auth_per_window:
            raise Throttled(fail_retry, "too many failed authentication attempts from this address")
        if requests > s.key_requests_per_window:
            raise Throttled(key_retry, f"rate limit of {s.key_requests_per_window} requests per "
                                       f"{s.key_window_s} s for this API key exceeded")

    async def note_failure(self, client: str) -> None:
        """A failed authentication: raise Throttled once the address is past its limit (the caller then
        answers its own 401/403 when this returns)."""
        if not self.enabled:
            return
        window, retry = self._window("fail", client, self._settings.failed_auth_window_s)
        counted = await self._apply([], [window])
        if counted is not None and counted[1][0] > self._settings.failed_auth_per_window:
            raise Throttled(retry, "too many failed authentication attempts from this address")


def _key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def client_address(connection: HTTPConnection) -> str:
    """The peer's address (uvicorn puts the proxy's client there when started with --proxy-headers)."""
    return connection.client.host if connection.client is not None else "unknown"


def rate_limiter(connection: HTTPConnection) -> RateLimiter:
    """The app's limiter, made on first use (the database exists only once the lifespan ran)."""
    state = connection.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        settings = state.services.settings
        sec: SecuritySettings = settings.security
        store: CounterStore
        storage = sec.rate_limit_storage
        if storage == "auto":
            storage = "memory" if settings.database_url.startswith("sqlite") else "database"
        if storage == "memory":
            store = MemoryCounters()
        else:
            keep_s = 2 * max(sec.key_window_s, sec.failed_auth_window_s)
            store = DatabaseCounters(state.services.db, keep_s=keep_s)
        limiter = RateLimiter(sec, store)
        state.rate_limiter = limiter
    return limiter
