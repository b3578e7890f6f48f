"""Web fixtures: a live server whose agent answers with the offline grounded responder, and one agent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sdr_agent.app import create_app
from sdr_agent.settings import LLMSettings, Settings
from tests.conftest import API_KEY, LiveServer

FACTS = (
    "# Pricing\nThe Team plan costs 49 dollars per user per month.\n\n"
    "# Trial\nEvery new account gets a 14-day free trial.\n"
)


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"llm": LLMSettings(provider="grounded", fallback="none")})


@pytest.fixture
def web_app(web_settings: Settings) -> FastAPI:
    return create_app(web_settings)


@pytest.fixture
def web_server(web_app: FastAPI) -> Iterator[str]:
    server = LiveServer(web_app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def make_agent(base_url: str, *, first_message: str = "Hi, this is Sam from Acme. How can I help?") -> str:
    """An agent grounded on FACTS (uploaded through the API, as a user would)."""
    with httpx.Client(base_url=base_url, headers={"xi-api-key": API_KEY}, timeout=30) as http:
        doc = http.post("/v1/convai/knowledge-base/text", json={"text": FACTS, "name": "facts"})
        doc.raise_for_status()
        created = http.post("/v1/convai/agents/create", json={
            "name": "Sam",
            "conversation_config": {"agent": {
                "first_message": first_message,
                "prompt": {"prompt": "You sell Acme.", "knowledge_base": [
                    {"type": "text", "id": doc.json()["id"], "name": "facts"},
                ]},
            }},
        })
        created.raise_for_status()
        return str(created.json()["agent_id"])


class Waiter:
    """Collects callback values from the SDK's thread; ``wait_for`` blocks (bounded) until a predicate
    holds."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._cond = threading.Condition()

    def add(self, item: str) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 20.0) -> list[str]:
        with self._cond:
            ok = self._cond.wait_for(lambda: predicate(self.items), timeout)
        assert ok, f"timed out; got {self.items!r}"
        return list(self.items)


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parents[1] / "artifacts"
    path.mkdir(exist_ok=True)
    return path
