"""Fixtures for tests that place calls on a real uvicorn server (``live_server``) through the Twilio stand-in.

Import them by name into a test module (``from tests.live_call import live_services, live_twilio``); they
register as ``services`` and ``twilio`` there, replacing the in-process ``services`` of
``tests/telephony/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.storage.db import Database


@pytest.fixture(name="services")
async def live_services(settings: Settings, app: FastAPI, live_server: str) -> AsyncIterator[Services]:
    """A second connection to the live server's database, for setting up records."""
    database = Database(settings.database_url)
    try:
        yield Services(settings=settings, db=database)
    finally:
        await database.dispose()


@pytest.fixture(name="twilio")
async def live_twilio(live_server: str, settings: Settings) -> AsyncIterator[TwilioStandIn]:
    """The Twilio stand-in, pointed at the live server; the server's REST calls go to the stand-in."""
    async with TwilioStandIn(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.public_base_url,
        target_base_url=live_server,
    ) as standin:
        settings.twilio_api_base = standin.api_base
        yield standin
