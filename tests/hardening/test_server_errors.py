"""Regression tests for the five causes of HTTP 500 that a schemathesis run found, and the protocol nits
(booleans, OPTIONS) it reported. Each answers a clear 4xx now."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from fastapi import FastAPI

from sdr_agent.services import Services
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.storage.repos.jsonmerge import deep_merge
from sdr_agent.telephony.twilio.rest import TwilioError, TwilioGateway

pytestmark = pytest.mark.postgres
DELIVERIES = "/v1/convai/webhook-deliveries"


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def test_call_start_bounds_out_of_datetime_range_are_422(client: httpx.AsyncClient) -> None:
    for name in ("call_start_after_unix", "call_start_before_unix"):
        for value in (10**12, 2**63, 253_402_300_800):
            r = await client.get("/v1/convai/conversations", params={name: value})
            assert r.status_code == 422, (name, value, r.text)
            assert r.json()["detail"][0]["loc"] == ["query", name]
        ok = await client.get("/v1/convai/conversations", params={name: 253_402_300_799})
        assert ok.status_code == 200


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", [
    "/v1/convai/agents", "/v1/convai/conversations", "/v1/convai/knowledge-base", DELIVERIES,
])
async def test_list_cursors_whose_time_overflows_are_422(client: httpx.AsyncClient, path: str) -> None:
    forged = [
        {"t": "9999-12-31T23:59:59-10:00", "id": "x"},  # moves past year 9999 in UTC
        {"t": "0001-01-01T00:00:00+10:00", "id": "x"},  # moves before year 1
        {"t": "9999-12-31T23:59:59+00:00", "id": "x"},  # representable, but no row can be that late
        {"t": "2026-01-01T00:00:00+00:00", "id": "x" * 1000},
    ]
    for payload in forged:
        r = await client.get(path, params={"cursor": _cursor(payload)})
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_non_latin1_twilio_credentials_are_refused_at_input(client: httpx.AsyncClient) -> None:
    base = {"phone_number": "+15550001111", "sid": "AC" + "1" * 32, "token": "tok"}
    for field, value in (("sid", "ACé" + "1" * 31), ("token", "tökén"), ("token", "日本"), ("token", "a b")):
        r = await client.post("/v1/convai/phone-numbers", json=base | {field: value})
        assert r.status_code == 422, (field, value, r.text)
        assert r.json()["detail"][0]["loc"] == ["body", field]
    assert (await client.get("/v1/convai/phone-numbers")).json() == []


async def test_stored_non_ascii_credentials_fail_both_outbound_routes_cleanly(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A row stored before the input check (or by hand) must not crash the Twilio REST calls."""
    agent_id = (await client.post("/v1/convai/agents", json={"name": "A", "first_message": "Hi"})).json()[
        "agent_id"
    ]
    async with _services(app).db.session() as session:
        number = await numbers_repo.create_phone_number(
            session, phone_number="+15550002222", twilio_sid="AC" + "2" * 32, twilio_token="tökén",
            agent_id=agent_id,
        )
    eleven = await client.post(
        "/v1/convai/twilio/outbound-call",
        json={
            "agent_id": agent_id, "agent_phone_number_id": number.phone_number_id, "to_number": "+15551234567"
        },
    )
    seed = await client.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": "+15551234567"})
    for response in (eleven, seed):
        assert 400 <= response.status_code < 500, response.text
    gateway = TwilioGateway("AC" + "0" * 32, "token", api_base="http://127.0.0.1:9")
    with pytest.raises(TwilioError) as raised:
        gateway._credentials("AC" + "3" * 32, "tökén")
    assert raised.value.is_client_error


async def test_conversation_config_nested_400_levels_is_422_and_nothing_is_saved(
    client: httpx.AsyncClient,
) -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(400):
        child: dict[str, object] = {}
        node["n"] = child
        node = child
    for path in ("/v1/convai/agents/create", "/v1/convai/agents"):
        body = {"name": "deep", "conversation_config": {"agent": deep}}
        r = await client.post(path, json=body)
        assert r.status_code == 422, r.text
        assert "deeper" in r.json()["detail"][0]["msg"]
    assert (await client.get("/v1/convai/agents")).json()["agents"] == []
    agent_id = (await client.post("/v1/convai/agents", json={"name": "ok"})).json()["agent_id"]
    r = await client.patch(f"/v1/convai/agents/{agent_id}", json={"conversation_config": {"agent": deep}})
    assert r.status_code == 422
    assert (await client.get(f"/v1/convai/agents/{agent_id}")).status_code == 200


def test_deep_merge_survives_nesting_past_the_recursion_limit() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):
        child: dict[str, object] = {}
        node["n"] = child
        node = child
    node["leaf"] = 1
    merged = deep_merge(deep, {"n": {"extra": True}, "gone": None})
    assert merged["n"]["extra"] is True  # type: ignore[index]
    assert merged is not deep and merged["n"] is not deep["n"]


async def test_zero_is_not_a_boolean(client: httpx.AsyncClient) -> None:
    body = {"phone_number": "+15550003333", "sid": "AC" + "1" * 32, "token": "tok", "supports_inbound": 0}
    r = await client.post("/v1/convai/phone-numbers", json=body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "supports_inbound"]
    r = await client.post("/v1/convai/agents", json={"name": "x", "interrupt_enabled": 1})
    assert r.status_code == 422
    r = await client.post("/v1/convai/agents", json={"name": "x", "interrupt_enabled": False})
    assert r.status_code == 200


async def test_options_answers_405_with_allow(client: httpx.AsyncClient) -> None:
    for path, expected in (("/v1/convai/agents", {"GET", "POST"}), ("/v1/convai/agents/agent_x", {"GET"})):
        r = await client.request("OPTIONS", path)
        assert r.status_code == 405, r.text
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert expected <= allowed, allowed


async def test_simulate_conversation_with_a_criterion_without_id_is_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    """Found by the longer schemathesis run: extra criteria were analysed without the agent's cleaning."""
    agent_id = (await client.post("/v1/convai/agents", json={"name": "Sim", "first_message": "Hi."})).json()[
        "agent_id"
    ]
    body = {
        "simulation_specification": {"caller_lines": ["What does it cost?"]},
        "extra_evaluation_criteria": [
            {"name": "no id"}, {"id": "asked_price", "conversation_goal_prompt": "x"},
        ],
        "new_turns_limit": 3,
    }
    r = await client.post(f"/v1/convai/agents/{agent_id}/simulate-conversation", json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()["analysis"]["evaluation_criteria_results"]) == {"asked_price"}
