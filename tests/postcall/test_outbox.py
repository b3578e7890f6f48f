"""The outbox underneath the worker: safe claims, leases that expire, fenced writes, shutdown hand-back,
backoff with jitter and response classification."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from tests.postcall.helpers import FAST_DELIVERY, Receiver

from sdr_agent.storage.db import Database
from sdr_agent.storage.models import utcnow
from sdr_agent.storage.repos import webhooks as webhooks_repo
from sdr_agent.webhooks import outbox
from sdr_agent.webhooks.outbox import AttemptResult
from sdr_agent.webhooks.worker import DeliveryWorker, backoff_delay, classify

pytestmark = pytest.mark.postgres


async def _enqueue(db: Database, count: int, url: str = "http://127.0.0.1:1/x") -> tuple[str, list[str]]:
    async with db.session() as session:
        config = await webhooks_repo.create_webhook_config(session, name="r", url=url)
        ids = []
        for n in range(count):
            delivery_id = await outbox.enqueue(
                session,
                webhook_id=config.webhook_id,
                url=url,
                event_type="post_call_transcription",
                conversation_id=f"conv_{n}",
                payload=f'{{"n":{n}}}',
                key=outbox.idempotency_key(config.webhook_id, "post_call_transcription", f"conv_{n}"),
            )
            assert delivery_id is not None
            ids.append(delivery_id)
        again = await outbox.enqueue(
            session,
            webhook_id=config.webhook_id,
            url=url,
            event_type="post_call_transcription",
            conversation_id="conv_0",
            payload="{}",
            key=outbox.idempotency_key(config.webhook_id, "post_call_transcription", "conv_0"),
        )
        assert again is None  # the same event is never queued twice
    return config.webhook_id, ids


async def test_two_claimers_never_get_the_same_row(db: Database) -> None:
    _, ids = await _enqueue(db, 6)
    other = Database(db.url)
    try:
        now = utcnow()
        first, second = await asyncio.gather(
            outbox.claim_due(db, now=now, lease_s=30, limit=10),
            outbox.claim_due(other, now=now, lease_s=30, limit=10),
        )
    finally:
        await other.dispose()
    a, b = {c.delivery_id for c in first}, {c.delivery_id for c in second}
    assert a.isdisjoint(b) and a | b == set(ids)
    assert all(c.attempt == 1 for c in first + second)
    # claimed rows are leased: nobody else gets them now
    assert await outbox.claim_due(db, now=utcnow(), lease_s=30, limit=10) == []


async def test_an_expired_lease_is_reclaimed_and_the_old_claim_is_fenced_off(db: Database) -> None:
    _, [delivery_id] = await _enqueue(db, 1)
    now = utcnow()
    [stale] = await outbox.claim_due(db, now=now, lease_s=10, limit=5)
    later = now + timedelta(seconds=11)  # the first worker died mid-send
    [fresh] = await outbox.claim_due(db, now=later, lease_s=10, limit=5)
    assert fresh.delivery_id == delivery_id and fresh.attempt == 2
    assert not await outbox.record_attempt(
        db, stale, AttemptResult(outcome="delivered", status_code=200), now=later
    )
    assert await outbox.record_attempt(
        db, fresh, AttemptResult(outcome="delivered", status_code=200), now=later
    )
    async with db.session() as session:
        delivery = await outbox.get_delivery(session, delivery_id)
    assert delivery is not None and delivery.status == "delivered" and delivery.attempts == 2
    assert [entry["attempt"] for entry in delivery.attempt_log] == [2]


async def test_stopping_mid_send_hands_the_claim_back(db: Database, receiver: Receiver) -> None:
    receiver.delays_s = [1.0, 0.0]
    _, [delivery_id] = await _enqueue(db, 1, receiver.url)
    worker = DeliveryWorker(db, FAST_DELIVERY)
    worker.start()
    worker.wake()
    await receiver.wait_for(1)
    await worker.stop(grace_s=0.1)
    async with db.session() as session:
        released = await outbox.get_delivery(session, delivery_id)
    assert released is not None and released.status == "pending"
    assert released.attempt_log[-1]["error"] == "interrupted by shutdown"

    restarted = DeliveryWorker(db, FAST_DELIVERY)
    assert await restarted.run_once() == 1
    await restarted.stop()
    async with db.session() as session:
        delivered = await outbox.get_delivery(session, delivery_id)
    assert delivered is not None and delivered.status == "delivered"
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1


async def test_a_deleted_or_disabled_receiver_makes_the_delivery_dead(db: Database) -> None:
    webhook_id, [first, second] = await _enqueue(db, 2)
    async with db.session() as session:
        await webhooks_repo.update_webhook_config(session, webhook_id, is_disabled=True)
    worker = DeliveryWorker(db, FAST_DELIVERY)
    assert await worker.run_once() == 2
    await worker.stop()
    async with db.session() as session:
        for delivery_id in (first, second):
            delivery = await outbox.get_delivery(session, delivery_id)
            assert delivery is not None and delivery.status == "dead"
            assert delivery.last_error == f"webhook '{webhook_id}' is disabled"


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt, step in ((1, 2.0), (2, 4.0), (3, 8.0), (12, 1800.0), (40, 1800.0)):
        delays = [backoff_delay(attempt, 2.0, 1800.0, rng) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 40  # jittered, so retries do not bunch up


@pytest.mark.parametrize(
    "status, verdict",
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "retry"),
        (400, "dead"),
        (401, "dead"),
        (404, "dead"),
        (408, "retry"),
        (410, "dead"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_response_classification(status: int, verdict: str) -> None:
    assert classify(status) == verdict


def test_the_attempt_log_is_trimmed_but_keeps_replays() -> None:
    log = [{"replayed_at": "2025-01-01T00:00:00+00:00"}] + [{"attempt": n} for n in range(80)]
    trimmed = outbox._trim_log(log)
    assert trimmed[0] == log[0] and len(trimmed) == outbox.MAX_LOGGED_ATTEMPTS + 1
    assert trimmed[-1] == {"attempt": 79}
