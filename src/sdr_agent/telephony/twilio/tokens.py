"""Per-call Media Stream tokens: random, bound to one call sid, single use, short-lived — in the database.

The TwiML webhook issues a token and puts it in the Stream's ``<Parameter name="token">``; the media
WebSocket consumes it from ``start.customParameters`` and refuses the stream (1008) when it does not match.

A call gets exactly one token, ever: a replayed (correctly signed) webhook finds the row and is refused, so
it can neither steal the stream nor invalidate the real one. Only a hash is stored. Both steps are single
SQL statements (an INSERT on the call sid's primary key, a conditional UPDATE), so any replica may issue
and any replica may consume, and a token is consumed at most once even when two sockets race.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from sdr_agent.services import Services
from sdr_agent.storage.db import Database
from sdr_agent.storage.models import CallStreamTokenRow

_TOKEN_BYTES = 32
# Rows are kept this long so a replay long after the call is still recognised, then swept.
_KEEP = timedelta(days=2)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CallTokens:
    def __init__(
        self, db: Database, ttl_s: float = 60.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._db = db
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock

    async def issue(self, call_sid: str) -> str | None:
        """A fresh token, or None when this call already had one (a replay or a retried webhook)."""
        if not call_sid:
            raise ValueError("call_sid is required")
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._clock()
        try:
            async with self._db.session() as session:
                rows = CallStreamTokenRow
                await session.execute(delete(rows).where(rows.created_at < now - _KEEP))
                session.add(CallStreamTokenRow(
                    call_sid=call_sid, token_hash=_hash(token), expires_at=now + self._ttl, created_at=now
                ))
        except IntegrityError:
            return None
        return token

    async def consume(self, call_sid: str, token: str | None) -> bool:
        """True once for the right, unexpired token; a wrong guess does not burn the real token."""
        if not call_sid or not token:
            return False
        now = self._clock()
        row = CallStreamTokenRow
        async with self._db.session() as session:
            result = await session.execute(
                update(row)
                .where(
                    row.call_sid == call_sid,
                    row.token_hash == _hash(token),
                    row.consumed_at.is_(None),
                    row.expires_at > now,
                )
                .values(consumed_at=now)
                .execution_options(synchronize_session=False)
            )
        return isinstance(result, CursorResult) and result.rowcount == 1


def call_tokens(services: Services) -> CallTokens:
    return CallTokens(services.db, ttl_s=services.settings.call_token_ttl_s)
