"""Per-call stream tokens: random, one per call ever, single use, expiring — shared through the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from sdr_agent.storage.db import Database
from sdr_agent.telephony.twilio.tokens import CallTokens

pytestmark = pytest.mark.postgres


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_token_is_accepted_once_for_its_call(db: Database) -> None:
    store = CallTokens(db)
    token = await store.issue("CA1")

    assert token is not None and len(token) >= 32
    assert await store.consume("CA1", token) is True
    assert await store.consume("CA1", token) is False  # replay


async def test_a_call_gets_one_token_ever(db: Database) -> None:
    store = CallTokens(db)
    first = await store.issue("CA1")

    assert await store.issue("CA1") is None  # a replayed webhook mints nothing ...
    assert first is not None and await store.consume("CA1", first) is True  # ... and breaks nothing
    assert await store.issue("CA1") is None  # not after the stream started either


async def test_wrong_missing_or_other_calls_token_is_refused_without_burning_the_real_one(
    db: Database,
) -> None:
    store = CallTokens(db)
    token = await store.issue("CA1")
    other = await store.issue("CA2")
    assert token is not None and other is not None

    assert await store.consume("CA1", None) is False
    assert await store.consume("CA1", "") is False
    assert await store.consume("CA1", token + "x") is False
    assert await store.consume("CA1", other) is False
    assert await store.consume("CA3", token) is False
    assert await store.consume("CA1", token) is True


async def test_tokens_are_random(db: Database) -> None:
    store = CallTokens(db)
    assert len({await store.issue(f"CA{i}") for i in range(20)}) == 20


async def test_expiry_is_exact(db: Database) -> None:
    clock = FakeClock()
    store = CallTokens(db, ttl_s=60.0, clock=clock)
    late, early = await store.issue("CA1"), await store.issue("CA2")
    clock.now += timedelta(seconds=59.9)
    assert await store.consume("CA2", early) is True
    clock.now += timedelta(seconds=0.1)
    assert await store.consume("CA1", late) is False


async def test_another_process_consumes_the_token_exactly_once(db: Database) -> None:
    """Two replicas (two engines on one database) racing for one token: exactly one wins."""
    token = await CallTokens(db).issue("CA1")
    other = Database(db.url)
    try:
        results = await asyncio.gather(
            CallTokens(db).consume("CA1", token), CallTokens(other).consume("CA1", token)
        )
    finally:
        await other.dispose()
    assert sorted(results) == [False, True]


async def test_bad_arguments_are_rejected(db: Database) -> None:
    with pytest.raises(ValueError):
        CallTokens(db, ttl_s=0)
    with pytest.raises(ValueError):
        await CallTokens(db).issue("")
