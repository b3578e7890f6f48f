"""20 concurrent hostile uploads while a call starts: the caller still hears the greeting promptly.

Before, extraction ran on the event loop or in the default thread pool that call set-up also uses, so six
small uploads were enough for a new call to get no greeting for 30 s."""

from __future__ import annotations

import asyncio

import httpx

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn
from tests.hardening import hostile_docs
from tests.live_call import live_services, live_twilio  # noqa: F401 (fixtures: services, twilio)
from tests.telephony.support import make_agent

CALLEE = "+15551234567"



async def test_greeting_arrives_during_an_upload_flood(
    live_server: str, services: Services, settings: Settings, twilio: TwilioStandIn
) -> None:
    settings.security.extract_cpu_s = 1  # each CPU burner is killed after 1 s of CPU
    agent_id = await make_agent(services, first_message="Hi, this is Alex from Acme.")
    twilio.set_script(CALLEE, hangup_at_s=2.0)
    uploads = hostile_docs.hostile_uploads()
    async with httpx.AsyncClient(
        base_url=live_server, headers={"xi-api-key": "test-key"}, timeout=120, trust_env=False
    ) as api:

        async def upload(n: int) -> int:
            # Two CPU burners (killed on their CPU limit) among fast-failing bombs and malformed files.
            name, data = uploads[0] if n % 10 == 0 else uploads[1 + n % (len(uploads) - 1)]
            response = await api.post(
                "/v1/convai/knowledge-base/file", files={"file": (name, data, "application/octet-stream")}
            )
            return response.status_code

        flood = [asyncio.create_task(upload(n)) for n in range(20)]
        await asyncio.sleep(0.5)  # the uploads are in: burners parse, the rest queue
        placed = await api.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": CALLEE})
        assert placed.status_code == 200, placed.text
        # Counted while the call is set up: a quiet machine may finish the flood before the whole call ends.
        still_parsing = sum(not task.done() for task in flood)
        call = await twilio.wait_for_call(placed.json()["call_sid"], timeout=30)
        statuses = await asyncio.gather(*flood)

    assert call.protocol_errors == [] and call.stream_started_ms is not None
    assert call.heard_frames, "no greeting reached the caller"
    greeting_after_ms = call.heard_frames[0].t_ms - call.stream_started_ms
    # A quiet server greets within a few hundred ms; 30 s of silence was the failure.
    assert greeting_after_ms < 3000, greeting_after_ms
    assert still_parsing > 0  # the flood really overlapped the call
    assert all(400 <= status < 500 for status in statuses), statuses
