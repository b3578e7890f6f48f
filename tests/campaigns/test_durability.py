"""Durability: kill -9 twice mid-campaign (SQLite), and two replicas on one PostgreSQL.

The Twilio stand-in lives in the test process, so it survives the server and keeps the record of every call
it was asked to place: that record is the ground truth for "never dialed twice".
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdr_agent.sim.call_record import CallPlan, SimulatedCall
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.sim.twilio_mix import OutcomeMix
from tests.campaigns.server_process import API_KEY, PUBLIC, SID, TOKEN, ServerProcess, server_env
from tests.campaigns.support import OPEN_WINDOW, all_terminal, open_zone_now, us_number
from tests.conftest import free_port, postgres_url

TERMINAL = ("completed", "failed", "cancelled", "voicemail")


async def _setup_campaign(api: httpx.AsyncClient, count: int, **extra: Any) -> str:
    agent = await api.post(
        "/v1/convai/agents/create",
        json={"name": "Alex", "conversation_config": {"agent": {"first_message": "Hi, it's Alex."}}},
    )
    agent.raise_for_status()
    response = await api.post(
        "/v1/convai/batch-calling/submit",
        json={
            "call_name": "durable",
            "agent_id": agent.json()["agent_id"],
            "recipients": [{"phone_number": us_number(n, "312")} for n in range(count)],
            "timezone": open_zone_now(),
            "calling_window": OPEN_WINDOW,
            **extra,
        },
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def _batch(api: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/convai/batch-calling/{batch_id}")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def _wait_finished(
    api: httpx.AsyncClient, batch_id: str, at_least: int, timeout: float
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await _batch(api, batch_id)
        finished = sum(r["status"] in TERMINAL for r in body["recipients"])
        if finished >= at_least or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.2)


def _assert_each_attempt_dialed_once(body: dict[str, Any], twilio: TwilioStandIn) -> None:
    placed: dict[str, list[str]] = defaultdict(list)
    for call in twilio.calls.values():
        placed[call.to].append(call.sid)
    for recipient in body["recipients"]:
        number = recipient["phone_number"]
        sids = [a["call_sid"] for a in recipient["attempt_log"] if a["call_sid"]]
        assert len(recipient["attempt_log"]) == recipient["attempts"]
        # Every call Twilio placed belongs to exactly one recorded attempt, and no attempt has two calls.
        assert sorted(placed.get(number, [])) == sorted(sids), (number, recipient["attempt_log"])
        unknown = [a for a in recipient["attempt_log"] if not a["call_sid"]]
        assert all(a["outcome"] == "unknown" for a in unknown)


async def test_campaign_survives_two_kill_9_and_never_dials_an_attempt_twice(tmp_path: Path) -> None:
    port = free_port()
    mix = OutcomeMix({"human": 4, "busy": 1}, seed=11, human=CallPlan(hangup_at_s=1.5), ring_ms=100)
    async with TwilioStandIn(SID, TOKEN, PUBLIC, target_base_url=f"http://127.0.0.1:{port}") as twilio:
        twilio.set_mix(mix)
        env = server_env(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", tmp_path, twilio.api_base)
        server = ServerProcess(port, env, tmp_path / "server.log")
        try:
            await server.start()
            async with httpx.AsyncClient(
                base_url=server.url, headers={"xi-api-key": API_KEY}, timeout=10, trust_env=False
            ) as api:
                batch_id = await _setup_campaign(
                    api, 32, target_concurrency_limit=6, retry_policy={"max_attempts": 2, "min_delay_secs": 0}
                )
                for finished_before_kill in (6, 18):
                    await _wait_finished(api, batch_id, finished_before_kill, timeout=60)
                    assert twilio.live_calls() > 0, "the kill should land mid-campaign, with calls under way"
                    server.kill9()
                    await asyncio.sleep(0.5)
                    await server.start()
                body = await _wait_finished(api, batch_id, 32, timeout=90)
                for _ in range(50):
                    if body["status"] == "completed":
                        break
                    await asyncio.sleep(0.2)
                    body = await _batch(api, batch_id)
        finally:
            server.stop()
    assert all_terminal(body) and body["status"] == "completed", [r["status"] for r in body["recipients"]]
    assert all(1 <= r["attempts"] <= 2 for r in body["recipients"])
    _assert_each_attempt_dialed_once(body, twilio)
    assert sum(twilio.dials().values()) >= 32


def _peak_overlap(calls: list[SimulatedCall], teardown_s: float) -> int:
    """Most calls holding a line at once. A call's last ``teardown_s`` is left out: the server counts a call
    as over when its session or the final callback says so, a few ms before the stand-in closes it."""
    events: list[tuple[float, int]] = []
    for call in calls:
        start = call.created_monotonic
        end = start + (call.ended_ms or 0) / 1000 - teardown_s
        if end > start:
            events += [(start, 1), (end, -1)]
    live = peak = 0
    for _, delta in sorted(events):
        live += delta
        peak = max(peak, live)
    return peak


@pytest.mark.postgres
async def test_two_replicas_on_one_postgres_share_a_campaign(tmp_path: Path) -> None:
    url = postgres_url()
    if not url:
        pytest.skip("needs PostgreSQL (SDR_TEST_DATABASE_URL); runs in the PostgreSQL pass of make test")
    from tests.conftest import _reset_postgres

    await _reset_postgres(url)
    ports = [free_port(), free_port()]
    mix = OutcomeMix({"human": 1}, seed=12, human=CallPlan(hangup_at_s=1.0), ring_ms=100)
    # Every webhook and stream goes to replica A; both replicas dial (whichever claims a recipient first).
    async with TwilioStandIn(SID, TOKEN, PUBLIC, target_base_url=f"http://127.0.0.1:{ports[0]}") as twilio:
        twilio.set_mix(mix)
        servers = [
            ServerProcess(
                port,
                server_env(url, tmp_path / f"r{i}", twilio.api_base, SDR_MAX_CONCURRENT_CALLS="3"),
                tmp_path / f"server{i}.log",
            )
            for i, port in enumerate(ports)
        ]
        try:
            await servers[0].start()
            await servers[1].start()
            async with httpx.AsyncClient(
                base_url=servers[1].url, headers={"xi-api-key": API_KEY}, timeout=10, trust_env=False
            ) as api:
                batch_id = await _setup_campaign(api, 16, target_concurrency_limit=10)
                body = await _wait_finished(api, batch_id, 16, timeout=90)
        finally:
            for server in servers:
                server.stop()
    assert all(r["status"] == "completed" for r in body["recipients"]), [
        r["status"] for r in body["recipients"]
    ]
    dials = twilio.dials()
    assert len(dials) == 16 and set(dials.values()) == {1}
    _assert_each_attempt_dialed_once(body, twilio)
    assert _peak_overlap(list(twilio.calls.values()), teardown_s=0.1) <= 3
