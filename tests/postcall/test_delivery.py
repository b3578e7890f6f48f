"""Durable, signed delivery through the running app: retries with one idempotency key, a restart between
attempts, dead deliveries that can be replayed, and the SDK verifying what arrived."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from elevenlabs import ElevenLabs
from fastapi import FastAPI
from tests.postcall.helpers import (
    FAST_DELIVERY,
    Receiver,
    make_conversation,
    register_webhook,
    services_of,
    wait_for_delivery,
)

from sdr_agent.analysis.finalize import finish_conversation
from sdr_agent.app import create_app
from sdr_agent.settings import Settings

pytestmark = pytest.mark.postgres


async def _finish(app: FastAPI, conversation_id: str) -> None:
    await finish_conversation(
        services_of(app),
        conversation_id,
        ended_ok=True,
        termination_reason="agent ended the call",
        dialogue_state={},
        audio_wav_path=None,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One server lifetime: the app's lifespan (and so its delivery worker) plus a client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"xi-api-key": "test-key"}
        ) as client:
            yield app, client


async def test_500_three_times_then_200_is_delivered_once_with_one_key(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500, 500, 200]
    _, secret = await register_webhook(client, receiver.url)
    conversation_id = await make_conversation(services_of(app))
    await _finish(app, conversation_id)

    [delivery] = await wait_for_delivery(client, "delivered")
    assert delivery["attempts"] == 4 and delivery["conversation_id"] == conversation_id
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 200]
    assert delivery["attempt_log"][0]["error"].startswith("HTTP 500")
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 4  # nothing is sent after the 2xx
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {delivery["idempotency_key"]}
    assert len({r.body for r in receiver.requests}) == 1  # the same stored body every time

    last = receiver.requests[-1]
    assert last.path == "/hooks/elevenlabs" and last.headers["content-type"] == "application/json"
    event = ElevenLabs(api_key="x").webhooks.construct_event(
        last.body.decode(), last.headers["elevenlabs-signature"], secret
    )
    assert event["type"] == "post_call_transcription" and isinstance(event["event_timestamp"], int)
    assert event["data"]["conversation_id"] == conversation_id


async def test_a_restart_between_attempts_still_delivers(settings: Settings, receiver: Receiver) -> None:
    slow_retry = settings.model_copy(
        update={"webhooks": FAST_DELIVERY.model_copy(update={"base_delay_s": 0.6, "max_delay_s": 0.6})}
    )
    receiver.statuses = [503, 200]
    async with running(slow_retry) as (app, client):
        await register_webhook(client, receiver.url)
        conversation_id = await make_conversation(services_of(app))
        await _finish(app, conversation_id)
        [pending] = await wait_for_delivery(client, "pending", timeout=5)
        while pending["attempts"] < 1:
            await asyncio.sleep(0.02)
            [pending] = await wait_for_delivery(client, "pending")
        assert pending["last_status_code"] == 503 and pending["next_attempt_at_unix"] is not None
    # The server is down: the retry falls due while nothing runs.
    await asyncio.sleep(0.7)
    assert len(receiver.requests) == 1
    async with running(slow_retry) as (_, client):
        [delivered] = await wait_for_delivery(client, "delivered")
    assert delivered["attempts"] == 2 and delivered["delivery_id"] == pending["delivery_id"]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["idempotency-key"] == receiver.requests[1].headers["idempotency-key"]
    assert receiver.requests[0].body == receiver.requests[1].body


async def test_410_is_dead_visible_and_replayable(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    receiver.statuses = [410, 200]
    await register_webhook(client, receiver.url)
    conversation_id = await make_conversation(services_of(app))
    await _finish(app, conversation_id)

    [dead] = await wait_for_delivery(client, "dead")
    assert dead["attempts"] == 1 and dead["last_status_code"] == 410
    assert dead["last_error"].startswith("HTTP 410") and dead["next_attempt_at_unix"] is None
    assert (await client.get("/v1/convai/webhook-deliveries", params={"status": "delivered"})).json()[
        "deliveries"
    ] == []
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 1  # a 4xx is not retried

    replayed = await client.post(f"/v1/convai/webhook-deliveries/{dead['delivery_id']}/replay")
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    [delivered] = await wait_for_delivery(client, "delivered")
    assert delivered["delivery_id"] == dead["delivery_id"] and delivered["attempts"] == 2
    assert any("replayed_at" in entry for entry in delivered["attempt_log"])
    assert receiver.requests[0].headers["idempotency-key"] == receiver.requests[1].headers["idempotency-key"]

    again = await client.post(f"/v1/convai/webhook-deliveries/{dead['delivery_id']}/replay")
    assert again.status_code == 409 and "only dead deliveries" in again.json()["detail"]
    missing = await client.post("/v1/convai/webhook-deliveries/dlv_nope/replay")
    assert missing.status_code == 404 and "dlv_nope" in missing.json()["detail"]


async def test_408_429_and_timeouts_are_retried(settings: Settings, receiver: Receiver) -> None:
    impatient = settings.model_copy(update={"webhooks": FAST_DELIVERY.model_copy(update={"timeout_s": 0.3})})
    receiver.statuses = [408, 429, 200, 200]
    receiver.delays_s = [0.0, 0.0, 0.8, 0.0]
    async with running(impatient) as (app, client):
        await register_webhook(client, receiver.url)
        await _finish(app, await make_conversation(services_of(app)))
        [delivered] = await wait_for_delivery(client, "delivered", timeout=15)
    log = delivered["attempt_log"]
    assert [a["status_code"] for a in log] == [408, 429, None, 200]
    assert log[2]["error"].startswith("timeout")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_errors_are_retried_and_the_window_ends_in_dead(settings: Settings) -> None:
    short_window = settings.model_copy(
        update={"webhooks": FAST_DELIVERY.model_copy(update={"max_age_s": 1, "max_delay_s": 0.3})}
    )
    async with running(short_window) as (app, client):
        await register_webhook(client, f"http://127.0.0.1:{_closed_port()}/hooks")
        await _finish(app, await make_conversation(services_of(app)))
        [dead] = await wait_for_delivery(client, "dead", timeout=10)
    assert dead["attempts"] >= 2
    assert "ConnectError" in dead["attempt_log"][0]["error"]
    assert dead["last_error"].startswith("gave up after")


async def test_deliveries_list_pages_and_filters(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    webhook_id, _ = await register_webhook(client, receiver.url)
    ids = [await make_conversation(services_of(app)) for _ in range(3)]
    for conversation_id in ids:
        await _finish(app, conversation_id)
    await wait_for_delivery(client, "delivered", count=3)
    first = (await client.get("/v1/convai/webhook-deliveries", params={"page_size": 2})).json()
    assert len(first["deliveries"]) == 2 and first["has_more"] is True
    rest = (
        await client.get(
            "/v1/convai/webhook-deliveries", params={"page_size": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert len(rest["deliveries"]) == 1 and rest["has_more"] is False
    seen = {d["conversation_id"] for d in first["deliveries"] + rest["deliveries"]}
    assert seen == set(ids)
    only = (await client.get("/v1/convai/webhook-deliveries", params={"conversation_id": ids[0]})).json()
    assert [d["conversation_id"] for d in only["deliveries"]] == [ids[0]]
    assert only["deliveries"][0]["webhook_id"] == webhook_id
    one = await client.get(
        f"/v1/convai/webhook-deliveries/{only['deliveries'][0]['delivery_id']}",
        params={"include_payload": True},
    )
    assert one.status_code == 200 and '"post_call_transcription"' in one.json()["payload"]
    bad = await client.get("/v1/convai/webhook-deliveries", params={"status": "lost"})
    assert bad.status_code == 422
    bad_cursor = await client.get("/v1/convai/webhook-deliveries", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 422
    assert (await client.get("/v1/convai/webhook-deliveries/dlv_missing")).status_code == 404
    assert (
        await client.get("/v1/convai/webhook-deliveries", headers={"xi-api-key": "wrong"})
    ).status_code == 401
