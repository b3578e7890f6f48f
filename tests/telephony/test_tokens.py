"""Per-call stream tokens: random, bound to one call, single use, expiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.storage.db import Database
from sdr_agent.telephony.twilio.tokens import CallTokenStore, call_token_store


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_is_accepted_once_for_its_call() -> None:
    store = CallTokenStore()
    token = store.issue("CA1")

    assert len(token) >= 32
    assert store.consume("CA1", token) is True
    assert store.consume("CA1", token) is False  # replay


def test_wrong_missing_or_other_calls_token_is_refused_without_burning_the_real_one() -> None:
    store = CallTokenStore()
    token = store.issue("CA1")
    other = store.issue("CA2")

    assert store.consume("CA1", None) is False
    assert store.consume("CA1", "") is False
    assert store.consume("CA1", token + "x") is False
    assert store.consume("CA1", other) is False
    assert store.consume("CA3", token) is False
    assert store.consume("CA1", token) is True


def test_tokens_are_random() -> None:
    store = CallTokenStore()
    assert len({store.issue(f"CA{i}") for i in range(50)}) == 50


def test_expired_token_is_refused() -> None:
    clock = FakeClock()
    store = CallTokenStore(ttl_s=60.0, clock=clock)
    token = store.issue("CA1")
    clock.now += 60.0

    assert store.consume("CA1", token) is False
    assert len(store) == 0


def test_token_just_inside_its_lifetime_is_accepted() -> None:
    clock = FakeClock()
    store = CallTokenStore(ttl_s=60.0, clock=clock)
    token = store.issue("CA1")
    clock.now += 59.9

    assert store.consume("CA1", token) is True


def test_reissuing_replaces_the_previous_token() -> None:
    store = CallTokenStore()
    first = store.issue("CA1")
    second = store.issue("CA1")

    assert store.consume("CA1", first) is False
    assert store.consume("CA1", second) is True


def test_expired_tokens_are_dropped_when_new_ones_are_issued() -> None:
    clock = FakeClock()
    store = CallTokenStore(ttl_s=1.0, clock=clock)
    for i in range(10):
        store.issue(f"CA{i}")
    clock.now += 2.0
    store.issue("CAnew")

    assert len(store) == 1


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        CallTokenStore(ttl_s=0)
    with pytest.raises(ValueError):
        CallTokenStore().issue("")


async def test_store_lives_in_services_with_the_configured_ttl(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, call_token_ttl_s=5.0, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"
    )  # type: ignore[call-arg]
    services = Services(settings=settings, db=Database(settings.database_url))
    try:
        store = call_token_store(services)
        assert call_token_store(services) is store
        assert services.extras["call_tokens"] is store
        assert store._ttl_s == 5.0
    finally:
        await services.db.dispose()
