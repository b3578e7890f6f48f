"""The outbox across a receiver outage (the receiver's port refuses connections, then comes back: exactly one
delivery, one Idempotency-Key), and crash recovery claims that two replicas can never both win."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.analysis.finalize import finish_conversation
from sdr_agent.services import Services
from sdr_agent.settings import ResilienceSettings, Settings
from sdr_agent.storage.db import Database
from sdr_agent.storage.models import ConversationRow
from sdr_agent.storage.repos import call_leases, recordings
from sdr_agent.storage.repos.conversations import get_conversation
from sdr_agent.voice.lifecycle import CRASH_REASON, CallRecovery
from tests.postcall.helpers import (
    FAST_DELIVERY,
    Receiver,
    make_conversation,
    register_webhook,
    services_of,
    wait_for_delivery,
)

pytestmark = pytest.mark.postgres

# "Down for a minute", compressed: the same backoff schedule, capped low, for an outage of ~2 s.
OUTAGE_S = 2.0


def _reserved_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "webhooks": FAST_DELIVERY.model_copy(update={"max_delay_s": 0.4}),
        "resilience": ResilienceSettings(call_lease_s=1.0, recovery_interval_s=3600.0),
    })


async def test_receiver_down_then_back_gets_exactly_one_delivery(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    port = _reserved_port()
    await register_webhook(client, f"http://127.0.0.1:{port}/hooks/elevenlabs")
    conversation_id = await make_conversation(services_of(app))
    await finish_conversation(
        services_of(app), conversation_id, ended_ok=True, termination_reason="caller hung up",
        dialogue_state={}, audio_wav_path=None,
    )
    await asyncio.sleep(OUTAGE_S)  # nothing listens: every attempt is refused
    [pending] = await wait_for_delivery(client, "pending")
    assert pending["attempts"] >= 2 and "ConnectError" in pending["attempt_log"][0]["error"]

    receiver = Receiver()
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        [delivered] = await wait_for_delivery(client, "delivered", timeout=15)
        await asyncio.sleep(0.8)  # several more polls: nothing else is sent
    finally:
        server.should_exit = True
        await serving
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["idempotency-key"] == delivered["idempotency_key"]
    assert delivered["delivery_id"] == pending["delivery_id"] and delivered["attempts"] > pending["attempts"]


async def test_a_lapsed_call_is_recovered_once_even_by_two_replicas(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    services = services_of(app)
    conversation_id = await make_conversation(services, [("agent", "Hi there.")], tool_turn=False)
    async with services.db.session() as session:
        await recordings.append_chunk(session, conversation_id, 0, 0, b"\x01\x00\x02\x00" * 8000)
        await _lapse(session, conversation_id, owner_id="dead-process")
    # A second replica: its own engine and identity on the same database.
    other = Services(settings=services.settings, db=Database(services.db.url), instance_id="replica-b")
    try:
        async with services.db.session() as session:
            [(found, seen)] = await call_leases.orphaned(session, datetime.now(UTC))
        assert found == conversation_id
        wins = await asyncio.gather(*(
            _claim(db, conversation_id, seen, owner) for db, owner in ((services.db, "a"), (other.db, "b"))
        ))
        assert sorted(wins) == [False, True]
    finally:
        await other.db.dispose()

    # The sweeper closes it: failed, reason, transcript and audio kept, analysis stored.
    async with services.db.session() as session:
        await _lapse(session, conversation_id)
    assert await CallRecovery(services).sweep() == 1
    assert await CallRecovery(services).sweep() == 0
    async with services.db.session() as session:
        closed = await get_conversation(session, conversation_id)
        wav = await recordings.load_wav(session, conversation_id)
    assert closed is not None and closed.status == "failed"
    assert closed.metadata["termination_reason"] == CRASH_REASON
    assert [t.message for t in closed.turns] == ["Hi there."] and closed.analysis is not None
    assert wav is not None and wav[:4] == b"RIFF" and len(wav) >= 44 + 32000


async def _claim(db: Database, conversation_id: str, seen: datetime | None, owner: str) -> bool:
    async with db.session() as session:
        return await call_leases.claim(session, conversation_id, seen, owner, 30.0)


async def _lapse(session: AsyncSession, conversation_id: str, **values: object) -> None:
    """The owner stopped renewing five seconds ago."""
    await session.execute(
        update(ConversationRow)
        .where(ConversationRow.conversation_id == conversation_id)
        .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=5), **values)
    )
