"""Shared fixtures: settings on a fresh database (SQLite, or PostgreSQL via SDR_TEST_DATABASE_URL), the app,
an in-process client and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from sdr_agent.app import create_app
from sdr_agent.settings import LLMSettings, SecuritySettings, Settings, STTSettings, TTSSettings
from sdr_agent.storage.db import Database
from sdr_agent.storage.migrate import upgrade_async
from sdr_agent.storage.secrets_boot import prepare_secrets

API_KEY = "test-key"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "test-auth-token"
POSTGRES_URL_ENV = "SDR_TEST_DATABASE_URL"
T = TypeVar("T")


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            # A connection leaked by an earlier test would hold locks and make DROP SCHEMA wait forever.
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code (fixtures, sync tests that drive a live server).

    asyncio.run in the main thread would replace the loop pytest-asyncio manages; a worker thread has its own.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A clean, empty database for this test (PostgreSQL: the public schema is dropped and recreated)."""
    url = postgres_url()
    if url:
        run_in_thread(_reset_postgres(url))
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'sdr_agent.db'}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        api_keys=[SecretStr(API_KEY)],
        database_url=database_url,
        data_dir=tmp_path,
        public_base_url="https://agent.test",
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        twilio_from_number="+15550000000",
        log_json=False,
        stt=STTSettings(provider="fake", fallback="none"),
        tts=TTSSettings(provider="fake", fallback="none"),
        llm=LLMSettings(provider="fake", fallback="none"),
        # Every receiver, tool server and web page in the tests lives on loopback, which production refuses.
        security=SecuritySettings(url_allowlist=["127.0.0.0/8", "localhost"]),
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """In-process client with the app's lifespan running and the test API key sent."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"xi-api-key": API_KEY}, timeout=10.0
        ) as http:
            yield http


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The test database, migrated to head, for repository tests."""
    await upgrade_async(settings.database_url)
    database = Database(settings.database_url)
    database.bind_secrets(await prepare_secrets(settings, database.engine))
    try:
        yield database
    finally:
        await database.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a background thread (its own event loop)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", ws="websockets-sansio"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def start(self, timeout: float = 60.0) -> None:  # start-up loads engines: slow on a loaded 2-core box
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("uvicorn did not start in time")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of a real uvicorn server running ``app``."""
    server = LiveServer(app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def run_sync() -> Any:
    """``run_sync(coro)``: finish a coroutine from a sync test (e.g. touch the DB next to a live server)."""
    return run_in_thread
