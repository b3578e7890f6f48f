"""Two ``sdr-agent serve`` replicas on one PostgreSQL behind a proxy that alternates connections: a call's
TwiML is answered by one and its media socket lands on the other, the stream token minted by the first is
accepted by the second, the imported number's credentials hang the call up from the second, the outbox
delivers the post-call webhook exactly once, both serve the recording, and each labels its own metrics."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.secrets import SecretBox
from tests.conftest import postgres_url
from tests.resilience.procs import (
    AGENT_NUMBER,
    API_KEY,
    PUBLIC_BASE_URL,
    AlternatingProxy,
    Receiver,
    ServerProcess,
    free_port,
    server_env,
    wait_until,
)

pytestmark = pytest.mark.postgres

TWILIO_SID, TWILIO_TOKEN = "AC" + "c3" * 16, "global-token-" + "5" * 19
NUMBER_SID, NUMBER_TOKEN = "AC" + "d4" * 16, "number-token-" + "6" * 19
PROSPECT = "+15551112222"


async def test_two_replicas_share_calls_tokens_credentials_and_outbox(
    database_url: str, tmp_path: Path
) -> None:
    if not postgres_url():
        pytest.skip("replicas share PostgreSQL: runs in the PostgreSQL pass (scripts/run-tests.sh)")
    ports = [free_port(), free_port()]
    proxy = AlternatingProxy(ports)
    await proxy.start()
    receiver = Receiver()
    hook_url = await receiver.start()
    key = SecretBox.generate_key()
    async with TwilioStandIn(TWILIO_SID, TWILIO_TOKEN, PUBLIC_BASE_URL, proxy.url) as standin:
        standin.add_account(NUMBER_SID, NUMBER_TOKEN)
        replicas = [
            ServerProcess(server_env(
                database_url=database_url, data_dir=tmp_path / f"data{i}", twilio_sid=TWILIO_SID,
                twilio_token=TWILIO_TOKEN, twilio_api_base=standin.api_base, secret_key=key,
                # A silent caller is re-prompted, then said goodbye to and hung up on, within seconds.
                extra={"SDR_TURN__TURN_TIMEOUT_S": "1.0"},
            ), port, tmp_path / f"replica{i}.log", tmp_path)
            for i, port in enumerate(ports)
        ]
        try:
            for replica in replicas:  # one at a time: the first runs the migrations
                await replica.start()
            async with httpx.AsyncClient(
                base_url=replicas[0].url, headers={"xi-api-key": API_KEY}, timeout=15.0, trust_env=False
            ) as api:
                hook = (await api.post("/v1/workspace/webhooks", json={
                    "name": "crm", "webhook_url": hook_url, "auth_type": "hmac"})).json()
                selection = {"post_call_webhook_id": hook["webhook_id"], "events": ["transcript"]}
                (await api.patch("/v1/convai/settings", json={"webhooks": selection})).raise_for_status()
                config = {"agent": {"first_message": "Hi, Alex from Acme here. Is now a good time?"}}
                agent_id = (await api.post("/v1/convai/agents/create", json={
                    "name": "Alex", "conversation_config": config})).json()["agent_id"]
                number_id = (await api.post("/v1/convai/phone-numbers", json={
                    "provider": "twilio", "phone_number": AGENT_NUMBER, "label": "line", "agent_id": agent_id,
                    "sid": NUMBER_SID, "token": NUMBER_TOKEN})).json()["phone_number_id"]
                # The caller stays silent: the agent (on the media replica) says goodbye and hangs up through
                # the REST API with the number's own account, read from the database.
                standin.set_script(PROSPECT, CallerScript(end_timeout_s=60.0), max_call_s=60.0)
                placed = (await api.post("/v1/convai/twilio/outbound-call", json={
                    "agent_id": agent_id, "agent_phone_number_id": number_id, "to_number": PROSPECT})).json()
                conversation_id, call_sid = placed["conversation_id"], placed["callSid"]
                call = await standin.wait_for_call(call_sid, timeout=60)
                assert call.stream_started_ms is not None and len(call.heard_frames) > 50
                await wait_until(lambda: len(receiver.events_for(conversation_id)) >= 1, timeout=30)
                conversation = (await api.get(f"/v1/convai/conversations/{conversation_id}")).json()
                assert conversation["status"] in ("done", "failed")
                assert [t["role"] for t in conversation["transcript"]][:1] == ["agent"]
                # The recording is served by both replicas.
                for replica in replicas:
                    audio = await api.get(f"{replica.url}/v1/convai/conversations/{conversation_id}/audio")
                    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
                    shown = await api.get(f"{replica.url}/v1/convai/conversations/{conversation_id}")
                    assert shown.json()["has_audio"] is True
                metrics = [await api.get(f"{r.url}/metrics") for r in replicas]
            await asyncio.sleep(1.5)  # both delivery workers keep polling: still one delivery
            assert len(receiver.events_for(conversation_id)) == 1
            assert any(path.endswith(f"/Accounts/{NUMBER_SID}/Calls/{call_sid}.json")
                       for _, path, _, _ in standin.rest_requests)
        finally:
            for replica in replicas:
                replica.kill()
            await proxy.stop()
            await receiver.stop()

    logs = [r.log_path.read_text() for r in replicas]
    twiml = f"/twiml/voice_outbound?conversation_id={conversation_id}"
    twiml_on = [i for i, log in enumerate(logs) if twiml in log]
    media_on = [i for i, log in enumerate(logs) if f"WebSocket /ws/voice/{call_sid}" in log]
    assert len(twiml_on) == 1 and len(media_on) == 1 and twiml_on != media_on, (twiml_on, media_on)
    instances = {re.search(r'sdr_process_info\{instance_id="([^"]+)"\} 1', m.text).group(1)  # type: ignore[union-attr]
                 for m in metrics}
    assert len(instances) == 2
