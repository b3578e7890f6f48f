"""Signed realtime URLs: single use, expiry, forgery and the wrong agent all get a 1008 close and no audio."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sdr_agent.app import create_app
from sdr_agent.settings import RealtimeSettings, Settings
from tests.conftest import API_KEY, LiveServer
from tests.web.conftest import make_agent

# The nonce table is what makes a signature single-use across replicas: PostgreSQL runs this too.
pytestmark = pytest.mark.postgres

INIT = json.dumps({"type": "conversation_initiation_client_data", "conversation_config_override": {
    "conversation": {"text_only": True}}})


def _signed_url(base: str, agent_id: str) -> str:
    response = httpx.get(f"{base}/v1/convai/conversation/get-signed-url", params={"agent_id": agent_id},
                         headers={"xi-api-key": API_KEY}, timeout=10)
    response.raise_for_status()
    return str(response.json()["signed_url"])


def _first_message_or_close(url: str) -> tuple[str | None, int | None]:
    """What the server sends first after our initiation: a message, or the close code when it refuses."""
    with connect(url, open_timeout=10, close_timeout=2) as ws:
        try:
            ws.send(INIT)
            return str(ws.recv(timeout=10)), None
        except ConnectionClosed as closed:
            return None, closed.rcvd.code if closed.rcvd else None


def test_signed_url_points_at_the_socket_and_works_exactly_once(web_server: str) -> None:
    agent_id = make_agent(web_server)
    url = _signed_url(web_server, agent_id)
    parts = urlsplit(url)
    assert parts.scheme == "ws" and parts.path == "/v1/convai/conversation"
    assert parse_qs(parts.query)["agent_id"] == [agent_id]
    assert API_KEY not in url
    first, code = _first_message_or_close(url)
    assert first is not None and json.loads(first)["type"] == "conversation_initiation_metadata"
    again, code = _first_message_or_close(url)
    assert again is None and code == 1008


def test_forged_missing_and_borrowed_signatures_are_refused_before_any_message(web_server: str) -> None:
    agent_id = make_agent(web_server)
    other = make_agent(web_server, first_message="Other agent here.")
    good = _signed_url(web_server, agent_id)
    query = parse_qs(urlsplit(good).query)
    nonce, expires, mac = query["conversation_signature"][0].split(".")
    base = f"ws://{urlsplit(good).netloc}/v1/convai/conversation?"
    forged_mac = "A" + mac[1:] if mac[0] != "A" else "B" + mac[1:]
    attempts = {
        "missing": urlencode({"agent_id": agent_id}),
        "forged mac": urlencode({"agent_id": agent_id,
                                 "conversation_signature": f"{nonce}.{expires}.{forged_mac}"}),
        "later expiry": urlencode({"agent_id": agent_id,
                                   "conversation_signature": f"{nonce}.{int(expires) + 3600}.{mac}"}),
        "other agent": urlencode({"agent_id": other,
                                  "conversation_signature": query["conversation_signature"][0]}),
        "garbage": urlencode({"agent_id": agent_id, "conversation_signature": "x" * 500}),
    }
    for name, params in attempts.items():
        message, code = _first_message_or_close(base + params)
        assert message is None and code == 1008, name
    # None of the refusals used the real signature up.
    message, _ = _first_message_or_close(good)
    assert message is not None


@pytest.fixture
def short_lived_server(settings: Settings) -> object:
    fast = settings.model_copy(update={"realtime": RealtimeSettings(signed_url_ttl_s=1.0)})
    app: FastAPI = create_app(fast)
    server = LiveServer(app)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_signed_url_expires(short_lived_server: str) -> None:
    agent_id = make_agent(short_lived_server)
    url = _signed_url(short_lived_server, agent_id)
    time.sleep(1.2)  # the TTL is 1 s: the signature is now past its expiry
    message, code = _first_message_or_close(url)
    assert message is None and code == 1008


def test_signed_url_needs_a_key_and_a_real_agent(web_server: str) -> None:
    missing = httpx.get(f"{web_server}/v1/convai/conversation/get-signed-url", params={"agent_id": "agent_x"},
                        headers={"xi-api-key": API_KEY})
    assert missing.status_code == 404
    no_key = httpx.get(f"{web_server}/v1/convai/conversation/get-signed-url", params={"agent_id": "agent_x"})
    assert no_key.status_code == 401
