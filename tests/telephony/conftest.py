"""Telephony fixtures: the Twilio stand-in wired to the in-process app, and a local fake "agent" server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from tests.telephony.support import FakeAgent, WebhookSink
from websockets.asyncio.server import serve

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.telephony.twilio.rest import TwilioGateway


@pytest.fixture
async def fake_agent() -> AsyncIterator[FakeAgent]:
    agent = FakeAgent()
    async with serve(
        agent.handle, "127.0.0.1", 0, compression=None, process_request=agent.process_request
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        agent.url = f"ws://127.0.0.1:{port}"
        yield agent


@pytest.fixture
def services(app: FastAPI, client: httpx.AsyncClient) -> Services:
    """The running app's services (the ``client`` fixture has started its lifespan)."""
    found: Services = app.state.services
    return found


@pytest.fixture
async def standin(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, fake_agent: FakeAgent
) -> AsyncIterator[TwilioStandIn]:
    """The stand-in: REST on a loopback port, webhooks into the app in-process, streams to ``fake_agent``."""
    async with TwilioStandIn(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.public_base_url,
        target_ws_base_url=fake_agent.url,
        http_transport=httpx.ASGITransport(app=app),
    ) as twilio:
        settings.twilio_api_base = twilio.api_base
        yield twilio


SINK_SID = "AC" + "9" * 32
SINK_TOKEN = "sink-token"


@pytest.fixture
def sink() -> WebhookSink:
    return WebhookSink("https://agent.test")


@pytest.fixture
async def sink_standin(sink: WebhookSink, fake_agent: FakeAgent) -> AsyncIterator[TwilioStandIn]:
    """The stand-in on its own: webhooks go to ``sink``, streams to ``fake_agent``; no app involved."""
    async with TwilioStandIn(
        SINK_SID,
        SINK_TOKEN,
        sink.public_base_url,
        target_ws_base_url=fake_agent.url,
        http_transport=httpx.ASGITransport(app=sink),
    ) as twilio:
        yield twilio


@pytest.fixture
def gateway(sink_standin: TwilioStandIn) -> TwilioGateway:
    return TwilioGateway(SINK_SID, SINK_TOKEN, api_base=sink_standin.api_base, timeout_s=5.0)
