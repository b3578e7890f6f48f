"""``sdr-agent call`` and the official elevenlabs SDK against a real running server dialing the stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.live_call import live_services  # noqa: F401 (fixture: services)
from tests.telephony.support import FakeAgent, make_agent, make_number
from typer.testing import CliRunner

from sdr_agent.cli import app as cli
from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn

CALLEE = "+15551234567"


@pytest.fixture
async def server_standin(
    live_server: str, settings: Settings, fake_agent: FakeAgent
) -> AsyncIterator[TwilioStandIn]:
    async with TwilioStandIn(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.public_base_url,
        target_base_url=live_server,
        target_ws_base_url=fake_agent.url,
    ) as twilio:
        settings.twilio_api_base = twilio.api_base
        yield twilio


@pytest.fixture
async def agent_id(services: Services) -> str:
    return await make_agent(services, first_message="Hi {{name}}")


async def _run(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_call_places_the_call_through_the_server(
    live_server: str, server_standin: TwilioStandIn, agent_id: str
) -> None:
    code, out, err = await _run(
        "call", agent_id, CALLEE, "--var", "name=John", "--server", live_server, "--api-key", "test-key"
    )

    assert code == 0, err
    call_sid = out.split()[1]
    call = await server_standin.wait_for_call(call_sid, timeout=15)
    assert call.to == CALLEE
    assert call.stream_url is not None and call.stream_url.endswith(f"/ws/voice/{call_sid}")
    assert all(c.status_code == 204 for c in call.status_callbacks)


async def test_call_reports_the_servers_refusal(
    live_server: str, server_standin: TwilioStandIn, agent_id: str
) -> None:
    code, _, err = await _run("call", agent_id, CALLEE, "--server", live_server, "--api-key", "test-key")
    assert code == 1
    assert "missing dynamic variables: name" in err
    assert server_standin.rest_requests == []


async def test_call_checks_its_arguments_before_calling() -> None:
    bad_number = await _run("call", "agent_x", "555-1234", "--api-key", "k", "--server", "http://127.0.0.1:9")
    bad_var = await _run(
        "call", "agent_x", CALLEE, "--var", "novalue", "--api-key", "k", "--server", "http://127.0.0.1:9"
    )
    unreachable = await _run("call", "agent_x", CALLEE, "--api-key", "k", "--server", "http://127.0.0.1:9")

    assert bad_number[0] == 2 and "E.164" in bad_number[2]
    assert bad_var[0] == 2 and "name=value" in bad_var[2]
    assert unreachable[0] == 1 and "could not reach" in unreachable[2]


@pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning")
async def test_elevenlabs_sdk_places_an_outbound_call(
    live_server: str, server_standin: TwilioStandIn, agent_id: str, services: Services
) -> None:
    from elevenlabs import ElevenLabs

    number_id = await make_number(services, "+15557770000", agent_id)
    sdk = ElevenLabs(api_key="test-key", base_url=live_server, timeout=15)

    result = await asyncio.to_thread(
        sdk.conversational_ai.twilio.outbound_call,
        agent_id=agent_id,
        agent_phone_number_id=number_id,
        to_number=CALLEE,
        conversation_initiation_client_data={"dynamic_variables": {"name": "John"}},
    )

    assert result.success is True
    assert result.conversation_id is not None and result.conversation_id.startswith("conv_")
    assert result.call_sid is not None
    call = await server_standin.wait_for_call(result.call_sid, timeout=15)
    assert (
        call.from_ == "+15557770000" and call.custom_parameters["conversation_id"] == result.conversation_id
    )
