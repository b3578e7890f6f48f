"""Two lifetimes of a real ``sdr-agent serve`` on one SQLite file:

1. kill -9 in the middle of a call, restart → the conversation is closed ``failed`` with
   ``metadata.termination_reason``, keeps its partial transcript and the audio recorded so far, and the
   post-call webhook is delivered exactly once;
2. SIGTERM during a call → the caller hears the closing line, the call is hung up and saved, the process exits
   within its bound;
and throughout: the imported number's Twilio token, the webhook signing secret and the key never appear in
plaintext in the database file or in the server's logs.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.secrets import SecretBox
from sdr_agent.voice.lifecycle import CRASH_REASON, SHUTDOWN_LINE
from tests.resilience.procs import (
    AGENT_NUMBER,
    API_KEY,
    PUBLIC_BASE_URL,
    Receiver,
    ServerProcess,
    free_port,
    server_env,
    wait_until,
)

PROSPECT = "+15551230000"
TWILIO_SID, TWILIO_TOKEN = "AC" + "a1" * 16, "global-token-" + "7" * 19
NUMBER_SID, NUMBER_TOKEN = "AC" + "b2" * 16, "number-token-" + "9" * 19
GREETING = "Hi, this is Alex from Acme Cloud. I'm calling about your team's onboarding, got a minute?"


@pytest.fixture
async def standin() -> AsyncIterator[TwilioStandIn]:
    port = free_port()
    async with TwilioStandIn(TWILIO_SID, TWILIO_TOKEN, PUBLIC_BASE_URL, f"http://127.0.0.1:{port}") as twilio:
        twilio.add_account(NUMBER_SID, NUMBER_TOKEN)
        twilio.server_port = port  # type: ignore[attr-defined]
        yield twilio


async def _setup(api: httpx.AsyncClient, hook_url: str) -> tuple[str, str, str]:
    created = await api.post("/v1/workspace/webhooks", json={"name": "crm", "webhook_url": hook_url,
                                                              "auth_type": "hmac"})
    created.raise_for_status()
    webhook_id, webhook_secret = created.json()["webhook_id"], created.json()["webhook_secret"]
    (await api.patch("/v1/convai/settings", json={"webhooks": {
        "post_call_webhook_id": webhook_id, "events": ["transcript"]}})).raise_for_status()
    agent = await api.post("/v1/convai/agents/create", json={
        "name": "Alex", "conversation_config": {"agent": {"first_message": GREETING}}})
    agent.raise_for_status()
    agent_id = agent.json()["agent_id"]
    number = await api.post("/v1/convai/phone-numbers", json={
        "provider": "twilio", "phone_number": AGENT_NUMBER, "label": "line", "agent_id": agent_id,
        "sid": NUMBER_SID, "token": NUMBER_TOKEN})
    number.raise_for_status()
    return agent_id, number.json()["phone_number_id"], webhook_secret


async def _call(api: httpx.AsyncClient, agent_id: str, number_id: str) -> tuple[str, str]:
    placed = await api.post("/v1/convai/twilio/outbound-call", json={
        "agent_id": agent_id, "agent_phone_number_id": number_id, "to_number": PROSPECT})
    placed.raise_for_status()
    return placed.json()["conversation_id"], placed.json()["callSid"]


def _row(db_file: Path, conversation_id: str) -> tuple[str, int]:
    with sqlite3.connect(db_file) as conn:
        status = conn.execute(
            "SELECT status FROM conversations WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
        turns = conn.execute(
            "SELECT count(*) FROM transcript_turns WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]
    return str(status), int(turns)


async def test_kill_9_mid_call_then_sigterm_with_secrets_sealed(
    tmp_path: Path, standin: TwilioStandIn
) -> None:
    receiver = Receiver()
    hook_url = await receiver.start()
    db_file = tmp_path / "sdr.db"
    secret_key = SecretBox.generate_key()
    env = server_env(
        database_url=f"sqlite+aiosqlite:///{db_file}", data_dir=tmp_path / "data", twilio_sid=TWILIO_SID,
        twilio_token=TWILIO_TOKEN, twilio_api_base=standin.api_base, secret_key=secret_key,
    )
    port = standin.server_port  # type: ignore[attr-defined]
    log_path = tmp_path / "server.log"
    first = ServerProcess(env, port, log_path, tmp_path)
    second = ServerProcess(env, port, log_path, tmp_path)
    # The caller says nothing and never hangs up: only the server can end these calls.
    standin.set_script(PROSPECT, CallerScript(end_timeout_s=120.0), max_call_s=120.0)
    api = httpx.AsyncClient(
        base_url=first.url, headers={"xi-api-key": API_KEY}, timeout=15.0, trust_env=False
    )
    try:
        await first.start()
        agent_id, number_id, webhook_secret = await _setup(api, hook_url)

        # --- 1. kill -9 while the greeting plays, after some audio was checkpointed
        conversation_id, call_sid = await _call(api, agent_id, number_id)
        call = await standin.wait_for_stream(call_sid, timeout=30)
        await wait_until(lambda: len(call.heard_frames) > 100, timeout=20)  # 2 s of the agent heard
        # ... and the greeting turn saved
        await wait_until(lambda: _row(db_file, conversation_id)[1] >= 1, timeout=20)
        first.kill()
        assert _row(db_file, conversation_id)[0] == "in-progress"

        await second.start()
        await wait_until(lambda: _row(db_file, conversation_id)[0] == "failed", timeout=30)
        await wait_until(lambda: len(receiver.events_for(conversation_id)) >= 1, timeout=20)
        conversation = (await api.get(f"/v1/convai/conversations/{conversation_id}")).json()
        assert conversation["status"] == "failed"
        assert conversation["metadata"]["termination_reason"] == CRASH_REASON
        assert [t["role"] for t in conversation["transcript"]][:1] == ["agent"]
        assert conversation["analysis"] is not None
        audio = await api.get(f"/v1/convai/conversations/{conversation_id}/audio")
        assert audio.status_code == 200
        with wave.open(io.BytesIO(audio.content)) as wav:
            assert wav.getnchannels() == 2 and wav.getframerate() == 8000
            assert wav.getnframes() >= 8000  # at least a second of the call so far
        await asyncio.sleep(1.5)  # more sweeps and worker polls: still exactly one delivery
        [event] = receiver.events_for(conversation_id)
        assert event["type"] == "post_call_transcription"

        # --- 2. SIGTERM during a live call: told, hung up, saved, bounded
        conversation_id, call_sid = await _call(api, agent_id, number_id)
        call = await standin.wait_for_stream(call_sid, timeout=30)
        await wait_until(lambda: len(call.heard_frames) > 25, timeout=20)
        took = await second.terminate(timeout=30.0)
        assert took < 25.0
        await asyncio.wait_for(call.ended.wait(), timeout=10)
        # The agent ended it as it ends any call: the REST hang-up on the number's own account.
        assert any(path.endswith(f"/Accounts/{NUMBER_SID}/Calls/{call_sid}.json")
                   for _, path, _, _ in standin.rest_requests)
        with sqlite3.connect(db_file) as conn:
            said = [m for (m,) in conn.execute(
                "SELECT message FROM transcript_turns"
                " WHERE conversation_id = ? AND role = 'agent' ORDER BY seq",
                (conversation_id,),
            )]
        assert said[-1] == SHUTDOWN_LINE
        assert _row(db_file, conversation_id)[0] in ("done", "processing")
    finally:
        first.kill()
        second.kill()
        await api.aclose()
        await receiver.stop()

    # --- 3. secrets at rest and in logs
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("sdr.db*"))
    logs = log_path.read_bytes()
    assert b"sdr-agent" in logs or len(logs) > 0
    for secret in (NUMBER_TOKEN, webhook_secret, secret_key, TWILIO_TOKEN):
        assert secret.encode() not in stored, "a secret is stored in plaintext"
        assert secret.encode() not in logs, "a secret reached the logs"
    with sqlite3.connect(db_file) as conn:
        (token,) = conn.execute("SELECT twilio_token FROM phone_numbers").fetchone()
        (hook_secret,) = conn.execute("SELECT secret FROM webhook_configs").fetchone()
    assert token.startswith("fernet:") and hook_secret.startswith("fernet:")
    assert SecretBox.from_setting(secret_key).open(token) == NUMBER_TOKEN
