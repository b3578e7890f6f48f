"""``sdr-agent serve --workers 2`` on PostgreSQL: two worker processes on one socket share what a call needs.

The kernel hands each connection to either worker, so the test makes the cross-worker path certain instead of
likely: once the call's media socket is live in one worker (found from the metrics snapshots, which name the
worker that holds an active call), that worker is paused (SIGSTOP) and everything else must be answered by
the other: the replayed stream token is refused, ``/metrics`` still counts the paused worker's live call, and
the REST hang-up reaches the call through Twilio. Then the paused worker resumes, the call ends, the post-call
webhook is delivered exactly once while both workers poll the outbox, every scrape agrees on the totals, a
signed realtime URL issued by one worker is good once on the other and then on neither, and SIGTERM drains
each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.secrets import SecretBox
from tests.conftest import postgres_url
from tests.resilience.procs import (
    API_KEY,
    PUBLIC_BASE_URL,
    Receiver,
    ServerProcess,
    free_port,
    server_env,
    wait_until,
)

pytestmark = pytest.mark.postgres

TWILIO_SID, TWILIO_TOKEN = "AC" + "e5" * 16, "global-token-" + "7" * 19
PROSPECT = "+15553334444"
REALTIME_INIT = json.dumps({"type": "conversation_initiation_client_data",
                            "conversation_config_override": {"conversation": {"text_only": True}}})


def _snapshots(metrics_dir: Path) -> dict[int, dict[str, object]]:
    found: dict[int, dict[str, object]] = {}
    for path in metrics_dir.glob("live-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[int(data["pid"])] = data
    return found


@contextlib.contextmanager
def _paused(pid: int) -> Iterator[None]:
    """Only the other worker accepts connections meanwhile (keep it short: the supervisor pings workers)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _realtime_first(url: str) -> tuple[str | None, int | None]:
    """The realtime socket's first message after our initiation, or its close code when it refuses."""
    with connect(url, open_timeout=10, close_timeout=2) as ws:
        try:
            ws.send(REALTIME_INIT)
            return str(ws.recv(timeout=10)), None
        except ConnectionClosed as closed:
            return None, closed.rcvd.code if closed.rcvd else None


def _value(text: str, series: str) -> float | None:
    match = re.search(rf"^{re.escape(series)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def _start_chroma(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real Chroma server: several workers refuse the embedded store."""
    port = free_port()
    chroma = str(Path(sys.executable).parent / "chroma")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=1.0) as http:
                return (await http.get(url + "/api/v2/heartbeat")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(up, timeout=30, interval=0.2)
    return proc, url


async def test_two_workers_share_tokens_outbox_metrics_and_call_control(
    database_url: str, tmp_path: Path
) -> None:
    if not postgres_url():
        pytest.skip("workers share PostgreSQL: runs in the PostgreSQL pass (scripts/run-tests.sh)")
    chroma, chroma_url = await _start_chroma(tmp_path)
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    receiver = Receiver()
    hook_url = await receiver.start()
    workers: list[int] = []
    server: ServerProcess | None = None
    try:
        target = f"http://127.0.0.1:{port}"
        async with TwilioStandIn(TWILIO_SID, TWILIO_TOKEN, PUBLIC_BASE_URL, target) as standin:
            server = ServerProcess(server_env(
                database_url=database_url, data_dir=tmp_path / "data", twilio_sid=TWILIO_SID,
                twilio_token=TWILIO_TOKEN, twilio_api_base=standin.api_base,
                secret_key=SecretBox.generate_key(),
                extra={
                    "SDR_TURN__TURN_TIMEOUT_S": "30",  # the silent caller stays on the line until hung up
                    "SDR_CHROMA_URL": chroma_url,
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                },
            ), port, tmp_path / "server.log", tmp_path, args=("--workers", "2"))
            await server.start()
            # Each worker publishes a snapshot every second once its app has started.
            await wait_until(lambda: len(_snapshots(metrics_dir)) == 2, timeout=60)
            workers = sorted(_snapshots(metrics_dir))
            # No keep-alive: every request is a new connection, which the kernel hands to either worker (a
            # pooled one could stay with the paused worker).
            async with httpx.AsyncClient(
                base_url=server.url, headers={"xi-api-key": API_KEY}, timeout=15.0, trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as api:
                hook = (await api.post("/v1/workspace/webhooks", json={
                    "name": "crm", "webhook_url": hook_url, "auth_type": "hmac"})).json()
                selection = {"post_call_webhook_id": hook["webhook_id"], "events": ["transcript"]}
                (await api.patch("/v1/convai/settings", json={"webhooks": selection})).raise_for_status()
                agent_id = (await api.post("/v1/convai/agents/create", json={
                    "name": "Alex", "conversation_config": {"agent": {"first_message": "Hi, Alex here."}},
                })).json()["agent_id"]
                standin.set_script(PROSPECT, CallerScript(end_timeout_s=60.0), max_call_s=60.0)
                placed = (await api.post("/v1/convai/outbound", json={
                    "agent_id": agent_id, "to_number": PROSPECT})).json()
                conversation_id, call_sid = placed["conversation_id"], placed["call_sid"]
                call = await standin.wait_for_stream(call_sid, timeout=30)
                assert call.stream_started_ms is not None

                def owner() -> int | None:
                    live = [pid for pid, snap in _snapshots(metrics_dir).items() if snap["active"] == 1]
                    return live[0] if len(live) == 1 else None

                await wait_until(lambda: owner() is not None, timeout=10)
                holder = owner()
                assert holder is not None and holder in workers
                with _paused(holder):  # from here on only the other worker answers
                    replay = await standin.replay_stream(call_sid, wait_s=2.0)
                    scrape = (await api.get("/metrics")).text
                    hangup = await api.post(f"/v1/convai/conversations/{conversation_id}/hangup")
                assert replay.close_code == 1008 and replay.events_received == [], replay
                # The paused worker's call, counted by the worker that answered.
                assert _value(scrape, "sdr_active_calls") == 1.0
                assert len(re.findall(r"^sdr_process_info\{", scrape, re.MULTILINE)) == 2
                assert hangup.status_code == 200, hangup.text
                assert hangup.json() == {"conversation_id": conversation_id, "call_sid": call_sid,
                                         "status": "completing"}

                ended = await standin.wait_for_call(call_sid, timeout=30)
                assert ended.end_request == "agent-hangup" and len(ended.heard_frames) > 10
                rest_paths = [path for _, path, _, _ in standin.rest_requests]
                assert any(path.endswith(f"/Calls/{call_sid}.json") for path in rest_paths)
                await wait_until(lambda: len(receiver.events_for(conversation_id)) >= 1, timeout=30)
                again = await api.post(f"/v1/convai/conversations/{conversation_id}/hangup")
                assert again.status_code == 409  # no longer a live call
                assert (await api.post("/v1/convai/conversations/conv_nope/hangup")).status_code == 404

                async def scrapes_agree() -> bool:
                    texts = [(await api.get("/metrics")).text for _ in range(6)]  # new connection each time
                    seen = {(_value(t, "sdr_calls_ended_total"), _value(t, "sdr_active_calls"),
                             _value(t, 'sdr_agent_turns_total{outcome="completed"}')) for t in texts}
                    return len(seen) == 1 and next(iter(seen))[:2] == (1.0, 0.0)

                await wait_until(scrapes_agree, timeout=10, interval=0.3)
                await asyncio.sleep(1.5)  # both workers' delivery loops keep polling: still one delivery
                assert len(receiver.events_for(conversation_id)) == 1
                shown = (await api.get(f"/v1/convai/conversations/{conversation_id}")).json()
                assert shown["status"] in ("processing", "done")

                # A signed realtime URL issued by one worker is good once on the other, then on neither.
                first, second = workers
                with _paused(first):
                    signed = (await api.get("/v1/convai/conversation/get-signed-url",
                                            params={"agent_id": agent_id})).json()["signed_url"]
                with _paused(second):
                    opened = await asyncio.to_thread(_realtime_first, signed)
                    reused_same = await asyncio.to_thread(_realtime_first, signed)
                with _paused(first):
                    reused_other = await asyncio.to_thread(_realtime_first, signed)
                assert opened[0] is not None
                assert json.loads(opened[0])["type"] == "conversation_initiation_metadata"
                assert reused_same == (None, 1008) and reused_other == (None, 1008)

            await server.terminate(timeout=30)
        drained = server.log_path.read_text().count("SIGTERM: calls drained")
        assert drained == 2, server.log_path.read_text()[-3000:]
    finally:
        if server is not None:
            server.kill()
        for pid in workers:  # a worker outliving a killed supervisor must not keep the port
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await receiver.stop()
        chroma.terminate()
        chroma.wait(10)
