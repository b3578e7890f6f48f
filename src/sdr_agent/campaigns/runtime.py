"""Start-up hook: every replica runs one dialer loop (claims keep them from stepping on each other)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sdr_agent.campaigns.dialer import Dialer
from sdr_agent.services import Services

log = logging.getLogger(__name__)

DIALER_KEY = "campaign_dialer"
_TASK_KEY = "campaign_dialer_task"
_WAKE_KEY = "campaign_wake"


def dialer_of(services: Services) -> Dialer:
    dialer = services.extras.get(DIALER_KEY)
    if not isinstance(dialer, Dialer):
        dialer = Dialer(services)
        services.extras[DIALER_KEY] = dialer
    return dialer


def wake(services: Services) -> None:
    """Run a tick now (a campaign was submitted, retried or cancelled) instead of at the next interval."""
    event = services.extras.get(_WAKE_KEY)
    if isinstance(event, asyncio.Event):
        event.set()


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
    dialer = dialer_of(services)
    event = asyncio.Event()
    services.extras[_WAKE_KEY] = event
    services.extras[_TASK_KEY] = asyncio.create_task(_loop(services, dialer, event), name="campaign-dialer")


async def on_shutdown(services: Services) -> None:
    task = services.extras.pop(_TASK_KEY, None)
    if isinstance(task, asyncio.Task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    dialer = services.extras.get(DIALER_KEY)
    if isinstance(dialer, Dialer):
        await dialer.drain(timeout=5.0)
