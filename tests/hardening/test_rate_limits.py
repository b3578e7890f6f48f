"""Per-key rate limits and the failed-authentication throttle: 429 with Retry-After after the configured
burst, per key and per address, counted in the database so every replica shares the counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from sdr_agent.app import create_app
from sdr_agent.settings import Settings
from tests.conftest import API_KEY

pytestmark = pytest.mark.postgres
OTHER_KEY = "second-key"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.api_keys = [SecretStr(API_KEY), SecretStr(OTHER_KEY)]
    settings.security.key_requests_per_window = 5
    settings.security.key_window_s = 60
    settings.security.failed_auth_per_window = 3
    settings.security.failed_auth_window_s = 120
    return settings


@asynccontextmanager
async def _client(app: FastAPI, address: str = "203.0.113.7") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _retry_after(response: httpx.Response, at_most: int) -> int:
    value = int(response.headers["retry-after"])
    assert 1 <= value <= at_most
    return value


async def test_each_key_gets_its_burst_then_429(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with _client(app) as http:
        for _ in range(5):
            assert (await http.get("/v1/convai/agents", headers={"xi-api-key": API_KEY})).status_code == 200
        limited = await http.get("/v1/convai/agents", headers={"xi-api-key": API_KEY})
        assert limited.status_code == 429 and "rate limit" in limited.json()["detail"]
        _retry_after(limited, 60)
        # Another key has its own budget.
        assert (await http.get("/v1/convai/agents", headers={"xi-api-key": OTHER_KEY})).status_code == 200


async def test_failed_keys_are_throttled_per_address_even_for_the_right_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with _client(app, "198.51.100.9") as attacker, _client(app, "192.0.2.44") as colleague:
        statuses = [
            (await attacker.get("/v1/convai/agents", headers={"xi-api-key": f"guess-{n}"})).status_code
            for n in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        blocked = await attacker.get("/v1/convai/agents", headers={"xi-api-key": API_KEY})
        assert blocked.status_code == 429 and "failed authentication" in blocked.json()["detail"]
        _retry_after(blocked, 120)
        # Another address is not affected.
        assert (await colleague.get("/v1/convai/agents", headers={"xi-api-key": API_KEY})).status_code == 200


async def test_forged_twilio_signatures_count_as_failures(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with _client(app, "198.51.100.10") as forger:
        statuses = [
            (
                await forger.post(
                    "/twiml/voice_inbound", data={"CallSid": "CA1"}, headers={"X-Twilio-Signature": "bad"}
                )
            ).status_code
            for _ in range(5)
        ]
    assert statuses == [403, 403, 403, 429, 429]


async def test_counters_are_shared_by_replicas_on_one_database(settings: Settings, app: FastAPI) -> None:
    """Two app instances on one database stand for two replicas: together they allow one burst."""
    settings.security.rate_limit_storage = "database"  # what "auto" picks on PostgreSQL
    other = create_app(settings, migrate=False)
    async with (
        app.router.lifespan_context(app),
        other.router.lifespan_context(other),
        _client(app) as first,
        _client(other) as second,
    ):
        headers = {"xi-api-key": API_KEY}
        statuses = []
        for n in range(8):
            replica = first if n % 2 == 0 else second
            statuses.append((await replica.get("/v1/convai/agents", headers=headers)).status_code)
    assert statuses == [200] * 5 + [429] * 3


async def test_memory_storage_and_switch_off(settings: Settings) -> None:
    settings.security.rate_limit_storage = "memory"
    app = create_app(settings)
    async with app.router.lifespan_context(app), _client(app) as http:
        headers = {"xi-api-key": API_KEY}
        statuses = [(await http.get("/v1/convai/agents", headers=headers)).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
    settings.security.rate_limit_enabled = False
    unlimited = create_app(settings)
    async with unlimited.router.lifespan_context(unlimited), _client(unlimited) as http:
        statuses = [(await http.get("/v1/convai/agents", headers=headers)).status_code for _ in range(8)]
        assert statuses == [200] * 8
