"""Start-up hook: every replica runs one dialer loop (claims keep them from stepping on each other)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from sdr_agent.campaigns.dialer import Dialer
from sdr_agent.services import Services

log = logging.getLogger(__name__)

@dataclass
class CampaignRuntime:
    """This process's dialer and, while campaigns are enabled, its loop (``services.campaigns``)."""

    dialer: Dialer
    wake: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None


def _runtime(services: Services) -> CampaignRuntime:
    if services.campaigns is None:
        services.campaigns = CampaignRuntime(dialer=Dialer(services))
    return services.campaigns


def dialer_of(services: Services) -> Dialer:
    return _runtime(services).dialer


def wake(services: Services) -> None:
    """Run a tick now (a campaign was submitted, retried or cancelled) instead of at the next interval."""
    if services.campaigns is not None and services.campaigns.wake is not None:
        services.campaigns.wake.set()


async def _loop(services: Services, dialer: Dialer, event: asyncio.Event) -> None:
    interval = services.settings.campaigns.tick_interval_s
    batch = services.settings.campaigns.claim_batch_size
    while True:
        busy = False
        try:
            # A full claim means more may be due right now: go again at once instead of after the interval.
            busy = (await dialer.tick()).dispatched >= batch
        except Exception:
            # A database hiccup must not stop the campaigns; the next tick starts from the database again.
            log.exception("dialer tick failed")
        if busy:
            await asyncio.sleep(0)
            continue
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), interval)


async def on_startup(services: Services) -> None:
    if not services.settings.campaigns.enabled:
        return
    runtime = _runtime(services)
    runtime.wake = asyncio.Event()
    runtime.task = asyncio.create_task(_loop(services, runtime.dialer, runtime.wake), name="campaign-dialer")


async def on_shutdown(services: Services) -> None:
    runtime = services.campaigns
    if runtime is None:
        return
    task, runtime.task = runtime.task, None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await runtime.dialer.drain(timeout=5.0)
