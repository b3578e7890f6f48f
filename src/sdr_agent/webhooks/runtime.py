"""Start/stop of the webhook delivery worker, called by the app lifespan."""

from __future__ import annotations

from sdr_agent.services import Services
from sdr_agent.webhooks.worker import DeliveryWorker

WORKER_KEY = "webhook_worker"


async def on_startup(services: Services) -> None:
    secret = services.settings.webhook_secret
    worker = DeliveryWorker(
        services.db,
        services.settings.webhooks,
        fallback_secret=secret.get_secret_value() if secret is not None else None,
    )
    services.extras[WORKER_KEY] = worker
    worker.start()


async def on_shutdown(services: Services) -> None:
    worker = services.extras.pop(WORKER_KEY, None)
    if isinstance(worker, DeliveryWorker):
        await worker.stop()


def wake_worker(services: Services) -> None:
    """Deliver new outbox rows now instead of at the next poll (no-op when no worker runs here)."""
    worker = services.extras.get(WORKER_KEY)
    if isinstance(worker, DeliveryWorker):
        worker.wake()
