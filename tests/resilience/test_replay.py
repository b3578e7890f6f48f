"""A correctly signed voice webhook replayed during a live call mints no second stream token, and no second
media stream ever receives the call's audio (the real call carries on untouched)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.local_stack import AGENT_NUMBER, PUBLIC_BASE_URL, local_stack
from sdr_agent.sim.twiml_reader import read_twiml
from sdr_agent.telephony.twilio.signature import SIGNATURE_HEADER, compute_signature

FAKES: dict[str, Any] = {
    "stt": {"provider": "fake", "fallback": "none"},
    "tts": {"provider": "fake", "fallback": "none"},
    "llm": {"provider": "fake", "fallback": "none"},
    "vad": {"provider": "fake"},
}
PROSPECT = "+15551239876"


async def test_replayed_signed_twiml_during_a_live_call_gets_no_token_and_no_audio() -> None:
    async with local_stack(settings_overrides=FAKES) as stack:
        agent_id = await stack.create_agent({"name": "Alex", "conversation_config": {"agent": {
            "first_message": "Hello, this is Alex from Acme Cloud, calling about your onboarding plans."}}})
        await stack.import_number(agent_id)
        call = await stack.twilio.start_inbound_call(
            AGENT_NUMBER, PROSPECT, script=CallerScript(end_timeout_s=60.0)
        )
        await stack.twilio.wait_for_stream(call.sid, timeout=20)
        heard_before = len(call.heard_frames)

        # The captured webhook, signed exactly as Twilio signed it, posted again.
        form = {"CallSid": call.sid, "AccountSid": stack.settings.twilio_account_sid, "From": PROSPECT,
                "To": AGENT_NUMBER, "CallStatus": "ringing", "Direction": "inbound"}
        token = stack.settings.twilio_auth_token.get_secret_value()
        signature = compute_signature(token, PUBLIC_BASE_URL + "/twiml/voice_inbound", form)
        async with httpx.AsyncClient(base_url=stack.base_url, trust_env=False) as http:
            replay = await http.post("/twiml/voice_inbound", data=form, headers={SIGNATURE_HEADER: signature})
        assert replay.status_code == 200
        verbs = read_twiml(replay.text)
        assert [verb.name for verb in verbs] == ["Say", "Hangup"]
        assert "token" not in replay.text

        # A second stream for the live call: with the real (already used) token, and with a forged one.
        for parameters in (None, {"token": "forged", "conversation_id": "x", "agent_id": agent_id}):
            probe = await stack.twilio.replay_stream(call.sid, parameters=parameters, wait_s=1.5)
            assert probe.close_code == 1008, probe
            assert "media" not in probe.events_received and "mark" not in probe.events_received

        # The real call is still live and still hearing its agent.
        await asyncio.sleep(0.5)
        assert not call.ended.is_set()
        assert len(call.heard_frames) > heard_before
        conversation = (await stack.api.get("/v1/convai/conversations", params={"agent_id": agent_id})).json()
        assert len(conversation["conversations"]) == 1
