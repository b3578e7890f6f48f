"""A finished call: processing → done with analysis stored, and the webhook carrying all of it; audio opt-in,
call initiation failures, per-agent overrides, and a finisher that never raises."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from elevenlabs import ElevenLabs
from fastapi import FastAPI
from tests.postcall.helpers import (
    Receiver,
    make_conversation,
    register_webhook,
    services_of,
    wait_for_delivery,
)

from sdr_agent.analysis.finalize import finish_conversation, record_initiation_failure
from sdr_agent.engines.fakes import FakeLLM, FakeReply
from sdr_agent.settings import AnalysisSettings
from sdr_agent.storage.repos.meetings import NewMeeting, save_meeting

pytestmark = pytest.mark.postgres


async def _conversation(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    got = await client.get(f"/v1/convai/conversations/{conversation_id}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def test_a_finished_call_has_analysis_and_sends_it(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    services = services_of(app)
    _, secret = await register_webhook(client, receiver.url)
    conversation_id = await make_conversation(services)
    async with services.db.session() as session:
        meeting = await save_meeting(
            session,
            NewMeeting(
                starts_at=datetime.now(UTC) + timedelta(days=2),
                timezone="America/New_York",
                name="Dana",
                email="dana@example.com",
            ),
            agent_id=None,
            conversation_id=conversation_id,
        )
    await finish_conversation(
        services,
        conversation_id,
        ended_ok=True,
        termination_reason="agent ended the call",
        dialogue_state={"objections": ["price"], "phase": "close"},
        audio_wav_path=None,
    )

    stored = await _conversation(client, conversation_id)
    assert stored["status"] == "done"
    analysis = stored["analysis"]
    assert analysis["call_successful"] == "success" and analysis["analysis_method"] == "rules"
    assert "meeting was booked" in analysis["transcript_summary"]
    assert analysis["data_collection_results"]["budget"]["value"] == "$20k"
    assert analysis["data_collection_results"]["timeline"]["value"] == "next quarter"
    assert analysis["data_collection_results"]["meeting_booked"]["value"] is True
    assert analysis["evaluation_criteria_results"]["meeting"]["result"] == "success"
    assert stored["metadata"]["termination_reason"] == "agent ended the call"

    await wait_for_delivery(client, "delivered")
    [request] = receiver.requests
    event = ElevenLabs(api_key="x").webhooks.construct_event(
        request.body.decode(), request.headers["elevenlabs-signature"], secret
    )
    data = event["data"]
    assert data["status"] == "done" and data["agent_name"] == "SDR Alex"
    assert data["analysis"] == analysis  # the webhook carries exactly what the API shows
    assert data["transcript"] == stored["transcript"]
    assert data["conversation_initiation_client_data"]["dynamic_variables"] == {"customer_name": "Dana"}
    assert data["metadata"]["phone_call"]["external_number"] == "+15551234567"
    tool_turn = next(t for t in data["transcript"] if t["tool_calls"])
    assert tool_turn["tool_calls"][0]["tool_name"] == "book_meeting"
    assert [m["meeting_id"] for m in data["booked_meetings"]] == [meeting["meeting_id"]]
    assert data["booked_meetings"][0]["attendee_email"] == "dana@example.com"


async def test_status_is_processing_until_the_analysis_is_stored(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    services = services_of(app)
    services.settings.analysis = AnalysisSettings(method="llm", llm_timeout_s=5)
    answer = {
        "call_successful": "success",
        "transcript_summary": "Dana booked a demo for Tuesday.",
        "call_summary_title": "Demo booked",
    }
    services.analysis_llm = FakeLLM(replies=[json.dumps(answer)], first_token_delay_s=0.4)
    await register_webhook(client, receiver.url)
    conversation_id = await make_conversation(services)
    finishing = asyncio.create_task(
        finish_conversation(
            services,
            conversation_id,
            ended_ok=True,
            termination_reason=None,
            dialogue_state={},
            audio_wav_path=None,
        )
    )
    # A poll can start before the finisher commits and read after it, so "done" may be seen; what must never
    # be seen is "done" without the model's analysis, or "processing" with one.
    seen: list[tuple[str, str | None]] = []
    while not finishing.done():
        polled = await _conversation(client, conversation_id)
        seen.append((polled["status"], (polled.get("analysis") or {}).get("analysis_method")))
        await asyncio.sleep(0.05)
    await finishing
    assert ("processing", None) in seen
    assert all(method is None for status, method in seen if status == "processing"), seen
    assert all(method == "llm" for status, method in seen if status == "done"), seen
    stored = await _conversation(client, conversation_id)
    assert stored["status"] == "done"
    assert stored["analysis"]["analysis_method"] == "llm"
    assert stored["analysis"]["transcript_summary"] == "Dana booked a demo for Tuesday."
    # fields the model did not answer come from the rules
    assert stored["analysis"]["data_collection_results"]["budget"]["value"] == "$20k"
    await wait_for_delivery(client, "delivered")
    assert json.loads(receiver.requests[0].body)["data"]["analysis"]["call_summary_title"] == "Demo booked"


async def test_a_failing_llm_falls_back_to_rules(client: httpx.AsyncClient, app: FastAPI) -> None:
    services = services_of(app)
    services.settings.analysis = AnalysisSettings(method="llm", llm_timeout_s=5)
    services.analysis_llm = FakeLLM(replies=[FakeReply(error=RuntimeError("model crashed"))])
    conversation_id = await make_conversation(services)
    await finish_conversation(
        services,
        conversation_id,
        ended_ok=False,
        termination_reason="stream dropped",
        dialogue_state={},
        audio_wav_path=None,
    )
    stored = await _conversation(client, conversation_id)
    assert stored["status"] == "failed"  # the call did not end well, but it was analysed
    assert stored["analysis"]["analysis_method"] == "rules"
    assert stored["analysis"]["call_successful"] == "success"
    assert "stream dropped" in stored["analysis"]["transcript_summary"]


def _wav(path: Path) -> bytes:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x01\x00\x02\x00" * 800)
    return path.read_bytes()


async def test_audio_is_sent_only_when_opted_in(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver, tmp_path: Path
) -> None:
    services = services_of(app)
    wav = _wav(tmp_path / "call.wav")
    await register_webhook(client, receiver.url, events=["transcript", "audio"])
    with_audio = await make_conversation(services)
    await finish_conversation(
        services,
        with_audio,
        ended_ok=True,
        termination_reason=None,
        dialogue_state={},
        audio_wav_path=str(tmp_path / "call.wav"),
    )
    delivered = await wait_for_delivery(client, "delivered", count=2)
    assert {d["event_type"] for d in delivered} == {"post_call_transcription", "post_call_audio"}
    audio_event = next(r.json() for r in receiver.requests if r.json()["type"] == "post_call_audio")
    assert audio_event["data"]["conversation_id"] == with_audio
    assert base64.b64decode(audio_event["data"]["full_audio"]) == wav
    transcript_event = next(
        r.json() for r in receiver.requests if r.json()["type"] == "post_call_transcription"
    )
    assert transcript_event["data"]["has_audio"] is True

    patched = await client.patch("/v1/convai/settings", json={"webhooks": {"events": ["transcript"]}})
    assert patched.json()["webhooks"]["events"] == ["transcript"]
    without = await make_conversation(services)
    await finish_conversation(
        services,
        without,
        ended_ok=True,
        termination_reason=None,
        dialogue_state={},
        audio_wav_path=str(tmp_path / "call.wav"),
    )
    later = await wait_for_delivery(client, "delivered", count=3)
    assert [d["event_type"] for d in later if d["conversation_id"] == without] == ["post_call_transcription"]


async def test_call_initiation_failure(client: httpx.AsyncClient, app: FastAPI, receiver: Receiver) -> None:
    services = services_of(app)
    _, secret = await register_webhook(client, receiver.url, events=["transcript", "call_initiation_failure"])
    conversation_id = await make_conversation(services, [], status="initiated")
    twilio = {"CallStatus": "no-answer", "CallSid": "CA123", "To": "+15551234567"}
    await record_initiation_failure(services, conversation_id, "no-answer", twilio)
    await record_initiation_failure(services, conversation_id, "no-answer", twilio)  # Twilio retried

    stored = await _conversation(client, conversation_id)
    assert stored["status"] == "failed" and stored["metadata"]["termination_reason"] == "no-answer"
    [delivery] = await wait_for_delivery(client, "delivered")
    assert delivery["event_type"] == "call_initiation_failure"
    [request] = receiver.requests
    event = ElevenLabs(api_key="x").webhooks.construct_event(
        request.body.decode(), request.headers["elevenlabs-signature"], secret
    )
    assert event["type"] == "call_initiation_failure"
    assert (
        event["data"]["failure_reason"] == "no-answer" and event["data"]["conversation_id"] == conversation_id
    )
    assert event["data"]["metadata"] == {"type": "twilio", "body": twilio}


async def test_no_subscription_for_initiation_failures_sends_nothing(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    services = services_of(app)
    await register_webhook(client, receiver.url)  # default events: transcript only
    conversation_id = await make_conversation(services, [], status="initiated")
    await record_initiation_failure(services, conversation_id, "busy", {})
    listed = (await client.get("/v1/convai/webhook-deliveries")).json()
    assert listed["deliveries"] == []
    assert (await _conversation(client, conversation_id))["status"] == "failed"


async def test_an_agent_override_and_a_seed_subscription_pick_the_receivers(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    services = services_of(app)
    await register_webhook(client, receiver.url)  # the workspace default
    agent_hook = (
        await client.post(
            "/v1/workspace/webhooks",
            json={
                "name": "agent-specific",
                "webhook_url": receiver.base_url + "/agent",
                "auth_type": "hmac",
            },
        )
    ).json()["webhook_id"]
    seed = await client.post(
        "/v1/workspace/webhooks",
        json={
            "name": "all calls",
            "webhook_url": receiver.base_url + "/seed",
            "events": ["transcript"],
        },
    )
    assert seed.status_code == 200
    override = {"workspace_overrides": {"webhooks": {"post_call_webhook_id": agent_hook}}}
    conversation_id = await make_conversation(services, platform_settings=override)
    await finish_conversation(
        services,
        conversation_id,
        ended_ok=True,
        termination_reason=None,
        dialogue_state={},
        audio_wav_path=None,
    )
    await wait_for_delivery(client, "delivered", count=2)
    assert sorted(r.path for r in receiver.requests) == ["/agent", "/seed"]


async def test_finishing_is_idempotent_and_never_raises(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    services = services_of(app)
    await register_webhook(client, receiver.url)
    conversation_id = await make_conversation(services)
    for _ in range(2):
        await finish_conversation(
            services,
            conversation_id,
            ended_ok=True,
            termination_reason=None,
            dialogue_state={},
            audio_wav_path=None,
        )
    await wait_for_delivery(client, "delivered")
    listed = (await client.get("/v1/convai/webhook-deliveries")).json()["deliveries"]
    assert len(listed) == 1
    # unknown ids and unreadable dialogue state are logged, not raised
    await finish_conversation(
        services,
        "conv_missing",
        ended_ok=True,
        termination_reason=None,
        dialogue_state={},
        audio_wav_path=None,
    )
    await record_initiation_failure(services, "conv_missing", "busy", {})
    other = await make_conversation(services)
    await finish_conversation(
        services,
        other,
        ended_ok=True,
        termination_reason=None,
        dialogue_state={"objections": 5, "collected": "nope", "meetings": "x"},
        audio_wav_path="/nonexistent.wav",
    )
    stored = await _conversation(client, other)
    assert stored["status"] == "done" and stored["analysis"]["call_successful"] == "success"


async def test_a_crash_in_analysis_never_leaves_the_call_processing(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: object) -> dict[str, Any]:
        raise RuntimeError("analysis bug")

    monkeypatch.setattr("sdr_agent.analysis.finalize.rules_analysis", broken)
    services = services_of(app)
    conversation_id = await make_conversation(services)
    await finish_conversation(
        services,
        conversation_id,
        ended_ok=False,
        termination_reason="boom",
        dialogue_state={},
        audio_wav_path=None,
    )
    assert (await _conversation(client, conversation_id))["status"] == "failed"
