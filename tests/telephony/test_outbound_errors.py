"""Outbound API refusals: bad input never reaches Twilio; Twilio's refusals fail the conversation clearly."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from tests.telephony.support import make_agent, make_number

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.repos import conversations as conversations_repo

# Status moves are conditional UPDATEs: they run on PostgreSQL too.
pytestmark = pytest.mark.postgres

CALLEE = "+15551234567"


async def _conversations(services: Services) -> list[conversations_repo.Conversation]:
    async with services.db.session() as session:
        page = await conversations_repo.list_conversations(session)
    return [summary.conversation for summary in page.items]


async def test_missing_dynamic_variables_are_named(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn
) -> None:
    agent_id = await make_agent(
        services,
        first_message="Hi {{name}} from {{company}}",
        prompt="Sell {{product}} on {{system__time_utc}}",
        placeholders={"company": "Acme"},
    )
    response = await client.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": CALLEE})

    assert response.status_code == 400
    assert response.json()["detail"] == "missing dynamic variables: name, product"
    assert standin.rest_requests == [] and await _conversations(services) == []


async def test_override_texts_are_checked_too(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn
) -> None:
    agent_id = await make_agent(services, first_message="Hello.")
    response = await client.post(
        "/v1/convai/twilio/outbound-call",
        json={
            "agent_id": agent_id,
            "to_number": CALLEE,
            "conversation_initiation_client_data": {
                "conversation_config_override": {"agent": {"prompt": {"prompt": "About {{topic}}"}}},
            },
        },
    )
    assert response.status_code == 400 and "topic" in response.json()["detail"]


async def test_reserved_variable_names_are_refused(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn
) -> None:
    agent_id = await make_agent(services)
    response = await client.post(
        "/v1/convai/outbound",
        json={
            "agent_id": agent_id,
            "to_number": CALLEE,
            "dynamic_variables": {"system__caller_id": "+1"},
        },
    )
    assert response.status_code == 400 and "system__caller_id" in response.json()["detail"]


async def test_unknown_agent_or_number_is_404(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn
) -> None:
    agent_id = await make_agent(services)
    no_agent = await client.post("/v1/convai/outbound", json={"agent_id": "agent_nope", "to_number": CALLEE})
    no_number = await client.post(
        "/v1/convai/twilio/outbound-call",
        json={
            "agent_id": agent_id,
            "agent_phone_number_id": "phnum_nope",
            "to_number": CALLEE,
        },
    )
    assert no_agent.status_code == 404 and "agent_nope" in no_agent.json()["detail"]
    assert no_number.status_code == 404 and "phnum_nope" in no_number.json()["detail"]
    assert standin.rest_requests == []


@pytest.mark.parametrize("number", ["5551234567", "+0555", "+1555-123-4567", "", "+1234567890123456"])
async def test_non_e164_numbers_are_422(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn, number: str
) -> None:
    agent_id = await make_agent(services)
    response = await client.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": number})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "to_number"]


async def test_variable_values_must_be_scalars(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn
) -> None:
    agent_id = await make_agent(services)
    response = await client.post(
        "/v1/convai/outbound",
        json={
            "agent_id": agent_id,
            "to_number": CALLEE,
            "dynamic_variables": {"name": {"first": "Ann"}},
        },
    )
    assert response.status_code == 422


async def test_outbound_needs_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/convai/outbound", json={"agent_id": "a", "to_number": CALLEE}, headers={"xi-api-key": "wrong"}
    )
    assert response.status_code == 401


async def test_no_number_to_call_from_is_400(
    client: httpx.AsyncClient, services: Services, settings: Settings, standin: TwilioStandIn
) -> None:
    settings.twilio_from_number = ""
    agent_id = await make_agent(services)
    response = await client.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": CALLEE})
    assert response.status_code == 400 and "SDR_TWILIO_FROM_NUMBER" in response.json()["detail"]


async def test_outbound_only_numbers_are_checked(
    client: httpx.AsyncClient, services: Services, standin: TwilioStandIn
) -> None:
    from sdr_agent.storage.models import PhoneNumberRow

    agent_id = await make_agent(services)
    number_id = await make_number(services, "+15557770000", agent_id)
    async with services.db.session() as session:
        row = await session.get(PhoneNumberRow, number_id)
        assert row is not None
        row.supports_outbound = False
    response = await client.post(
        "/v1/convai/twilio/outbound-call",
        json={
            "agent_id": agent_id,
            "agent_phone_number_id": number_id,
            "to_number": CALLEE,
        },
    )
    assert response.status_code == 400 and "outbound" in response.json()["detail"]


@pytest.mark.parametrize(
    ("fault", "api_status", "reason"),
    [
        (
            (400, 21211, "The 'To' number +15551234567 is not a valid phone number."),
            400,
            "twilio error 21211",
        ),
        ((500, 20500, "Internal Server Error"), 502, "twilio error 20500"),
    ],
)
async def test_twilio_refusal_fails_the_conversation(
    client: httpx.AsyncClient,
    services: Services,
    standin: TwilioStandIn,
    fault: tuple[int, int, str],
    api_status: int,
    reason: str,
) -> None:
    agent_id = await make_agent(services)
    standin.fail_next_create(*fault)

    response = await client.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": CALLEE})

    assert response.status_code == api_status
    detail = response.json()["detail"]
    assert str(fault[1]) in detail and fault[2] in detail
    (conversation,) = await _conversations(services)
    assert conversation.conversation_id in detail
    assert conversation.status == "failed" and conversation.call_sid is None
    assert conversation.termination_reason is not None and conversation.termination_reason.startswith(reason)
    assert conversation.metadata["termination_reason"] == conversation.termination_reason
    assert conversation.metadata["error"]["code"] == fault[1]


async def test_wrong_twilio_credentials_fail_the_conversation(
    client: httpx.AsyncClient, services: Services, settings: Settings, standin: TwilioStandIn
) -> None:
    settings.twilio_auth_token = SecretStr("not-the-token")
    agent_id = await make_agent(services)

    response = await client.post(
        "/v1/convai/twilio/outbound-call", json={"agent_id": agent_id, "to_number": CALLEE}
    )

    assert response.status_code == 400
    assert "20003" in response.json()["detail"] and "Authenticate" in response.json()["detail"]
    (conversation,) = await _conversations(services)
    assert conversation.status == "failed"
    assert standin.calls == {}


async def test_unreachable_twilio_is_502_and_failed(
    client: httpx.AsyncClient, services: Services, settings: Settings
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        settings.twilio_api_base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    agent_id = await make_agent(services)

    response = await client.post("/v1/convai/outbound", json={"agent_id": agent_id, "to_number": CALLEE})

    assert response.status_code == 502 and "could not reach Twilio" in response.json()["detail"]
    (conversation,) = await _conversations(services)
    assert conversation.status == "failed"
