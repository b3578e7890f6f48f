"""Start/stop of the webhook delivery worker, called by the app lifespan."""

from __future__ import annotations

from sdr_agent.security.urls import GuardedTransport, policy_from_entries
from sdr_agent.services import Services
from sdr_agent.webhooks.worker import DeliveryWorker


async def on_startup(services: Services) -> None:
    secret = services.settings.webhook_secret
    worker = DeliveryWorker(
        services.db,
        services.settings.webhooks,
        fallback_secret=secret.get_secret_value() if secret is not None else None,
        transport=GuardedTransport(policy_from_entries(services.settings.security.url_allowlist)),
    )
    services.webhook_worker = worker
    worker.start()


async def on_shutdown(services: Services) -> None:
    worker, services.webhook_worker = services.webhook_worker, None
    if worker is not None:
        await worker.stop()


def wake_worker(services: Services) -> None:
    """Deliver new outbox rows now instead of at the next poll (no-op when no worker runs here)."""
    if services.webhook_worker is not None:
        services.webhook_worker.wake()
