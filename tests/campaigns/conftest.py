"""A running server (real app, fake engines) with the Twilio stand-in, dialer ticking fast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sdr_agent.sim.local_stack import LocalStack, local_stack

FAKE_ENGINES: dict[str, Any] = {
    "stt": {"provider": "fake", "fallback": "none"},
    "tts": {"provider": "fake", "fallback": "none"},
    "llm": {"provider": "fake", "fallback": "none"},
    "vad": {"provider": "fake"},
    "analysis": {"method": "rules"},
}


@pytest.fixture
async def stack() -> AsyncIterator[LocalStack]:
    overrides = {
        **FAKE_ENGINES,
        "campaigns": {"tick_interval_s": 0.1, "reconcile_after_s": 2.0, "dial_lease_s": 5.0},
    }
    async with local_stack(settings_overrides=overrides) as running:
        yield running


@pytest.fixture
async def manual_stack() -> AsyncIterator[LocalStack]:
    """The dialer loop is off: the test drives ``Dialer.tick()`` itself (with a fake clock)."""
    overrides = {**FAKE_ENGINES, "campaigns": {"enabled": False}}
    async with local_stack(settings_overrides=overrides) as running:
        yield running
