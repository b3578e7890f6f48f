"""Start/stop of the webhook delivery worker (placeholder)."""

from __future__ import annotations

from sdr_agent.services import Services


async def on_startup(services: Services) -> None:
    return None


async def on_shutdown(services: Services) -> None:
    return None
