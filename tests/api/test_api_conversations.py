from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from sdr_agent.services import Services
from sdr_agent.storage.repos import conversations as repo
from sdr_agent.storage.repos.conversations import TurnRecord

pytestmark = pytest.mark.postgres


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def _agent(client: httpx.AsyncClient, name: str = "Alex") -> str:
    agent_id: str = (await client.post("/v1/convai/agents", json={"name": name})).json()["agent_id"]
    return agent_id


async def test_turn_is_visible_through_the_api_right_after_it_is_written(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    agent_id = await _agent(client)
    db = _services(app).db
    async with db.session() as s:
        conv = await repo.create_conversation(
            s,
            agent_id=agent_id,
            direction="outbound",
            call_sid="CA" + "2" * 32,
            from_number="+15550000000",
            to_number="+15551234567",
            phone_number_id="phnum_x",
            dynamic_variables={"customer_name": "Bob"},
        )
        await repo.update_conversation(
            s,
            conv.conversation_id,
            status="in-progress",
            stream_sid="MZ9",
            started_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    async with db.session() as s:
        await repo.append_turn(s, conv.conversation_id, TurnRecord("agent", "Hi Bob!", 0.4, latency_ms=210.0))
    body = (await client.get(f"/v1/convai/conversations/{conv.conversation_id}")).json()
    assert body["status"] == "in-progress" and body["agent_id"] == agent_id and body["agent_name"] == "Alex"
    assert [t["message"] for t in body["transcript"]] == ["Hi Bob!"]
    async with db.session() as s:
        await repo.append_turn(
            s,
            conv.conversation_id,
            TurnRecord(
                "user",
                "Who is this?",
                2.9,
                interrupted=False,
                bargein_detect_ms=80.0,
                tool_calls=[
                    {
                        "request_id": "r",
                        "tool_name": "t",
                        "params_as_json": "{}",
                        "tool_has_been_called": True,
                        "type": "webhook",
                    }
                ],
            ),
        )
    body = (await client.get(f"/v1/convai/conversations/{conv.conversation_id}")).json()
    first, second = body["transcript"]
    assert first["role"] == "agent" and first["time_in_call_secs"] == 0 and first["interrupted"] is False
    assert first["conversation_turn_metrics"]["metrics"]["convai_response_latency"]["elapsed_time"] == 0.21
    assert second["time_in_call_secs"] == 2 and second["tool_calls"][0]["tool_name"] == "t"
    assert second["tool_results"] == []
    assert second["conversation_turn_metrics"]["bargein_detect_ms"] == 80.0
    assert body["metadata"]["start_time_unix_secs"] == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    assert body["metadata"]["phone_call"] == {
        "type": "twilio",
        "direction": "outbound",
        "phone_number_id": "phnum_x",
        "agent_number": "+15550000000",
        "external_number": "+15551234567",
        "call_sid": "CA" + "2" * 32,
        "stream_sid": "MZ9",
    }
    assert body["conversation_initiation_client_data"] == {"dynamic_variables": {"customer_name": "Bob"}}
    assert body["analysis"]["call_successful"] == "unknown"
    assert body["has_audio"] is False and body["has_user_audio"] is False


async def test_done_conversation_shows_analysis_and_termination(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    agent_id = await _agent(client)
    async with _services(app).db.session() as s:
        conv = await repo.create_conversation(
            s, agent_id=agent_id, direction="inbound", from_number="+15557654321", to_number="+15550000000"
        )
        await repo.update_conversation(
            s,
            conv.conversation_id,
            status="done",
            duration_secs=42.6,
            termination_reason="caller hung up",
            call_successful="success",
            analysis={
                "transcript_summary": "Booked a demo.",
                "data_collection_results": {"email": {"value": "a"}},
            },
        )
    body = (await client.get(f"/v1/convai/conversations/{conv.conversation_id}")).json()
    assert body["status"] == "done"
    assert body["metadata"]["call_duration_secs"] == 43
    assert body["metadata"]["termination_reason"] == "caller hung up"
    assert body["metadata"]["phone_call"]["agent_number"] == "+15550000000"
    assert body["metadata"]["phone_call"]["external_number"] == "+15557654321"
    assert body["analysis"]["call_successful"] == "success"
    assert body["analysis"]["transcript_summary"] == "Booked a demo."
    listed = (await client.get("/v1/convai/conversations")).json()["conversations"][0]
    assert listed["transcript_summary"] == "Booked a demo." and listed["call_successful"] == "success"
    assert listed["call_duration_secs"] == 43 and listed["direction"] == "inbound"


async def test_list_filters_by_agent_and_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    alex, bob = await _agent(client, "Alex"), await _agent(client, "Bob")
    created: list[str] = []
    async with _services(app).db.session() as s:
        for _ in range(3):
            conv = await repo.create_conversation(s, agent_id=alex, direction="outbound")
            created.append(conv.conversation_id)
            await repo.append_turn(s, conv.conversation_id, TurnRecord("agent", "hi", 0.0))
        await repo.create_conversation(s, agent_id=bob, direction="outbound")
    first = (await client.get("/v1/convai/conversations", params={"agent_id": alex, "page_size": 2})).json()
    assert [c["conversation_id"] for c in first["conversations"]] == created[:0:-1]
    assert first["has_more"] is True
    item = first["conversations"][0]
    assert item["agent_name"] == "Alex" and item["message_count"] == 1 and item["status"] == "initiated"
    for key in ("agent_id", "start_time_unix_secs", "call_duration_secs", "call_successful", "direction"):
        assert key in item
    second = (
        await client.get(
            "/v1/convai/conversations",
            params={"agent_id": alex, "page_size": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    assert [c["conversation_id"] for c in second["conversations"]] == [created[0]]
    assert second["has_more"] is False and second["next_cursor"] is None
    everything = (await client.get("/v1/convai/conversations")).json()["conversations"]
    assert len(everything) == 4
    bad = await client.get("/v1/convai/conversations", params={"cursor": "nope"})
    assert bad.status_code == 422


async def test_delete_and_missing(app: FastAPI, client: httpx.AsyncClient) -> None:
    async with _services(app).db.session() as s:
        conv = await repo.create_conversation(s, agent_id=None, direction="outbound")
    r = await client.delete(f"/v1/convai/conversations/{conv.conversation_id}")
    assert r.status_code == 200 and r.json() == {}
    for path in (
        f"/v1/convai/conversations/{conv.conversation_id}",
        f"/v1/convai/conversations/{conv.conversation_id}/audio",
    ):
        missing = await client.get(path)
        assert missing.status_code == 404 and conv.conversation_id in missing.json()["detail"]
    assert (await client.delete(f"/v1/convai/conversations/{conv.conversation_id}")).status_code == 404


async def test_audio_is_served_when_recorded(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: object
) -> None:
    from pathlib import Path

    wav = Path(str(tmp_path)) / "call.wav"
    wav.write_bytes(b"RIFF....WAVEfmt ")
    async with _services(app).db.session() as s:
        conv = await repo.create_conversation(s, agent_id=None, direction="outbound")
        await repo.update_conversation(s, conv.conversation_id, audio_path=str(wav))
    r = await client.get(f"/v1/convai/conversations/{conv.conversation_id}/audio")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content == wav.read_bytes()
    assert (await client.get(f"/v1/convai/conversations/{conv.conversation_id}")).json()["has_audio"] is True
