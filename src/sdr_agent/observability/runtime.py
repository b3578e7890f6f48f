"""Start/stop hooks: each app gets its own ``AppMetrics`` in ``services.metrics``, reading the
voice runtime's live calls and engines (looked up at scrape time, so hook order does not matter)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from sdr_agent.engines.factory import EngineSet
from sdr_agent.observability.metrics import AppMetrics, register, unregister
from sdr_agent.observability.shared import SNAPSHOT_INTERVAL_S, mark_worker_gone
from sdr_agent.services import Services

log = logging.getLogger(__name__)
# One publisher per app (several workers only): keeps the other workers' view of this one fresh.
_publishers: dict[int, asyncio.Task[None]] = {}


def _engine_objects(engine_set: EngineSet | None) -> Iterable[Any]:
    if engine_set is None:
        return []
    sets = [engine_set, *engine_set.variants.values()]
    return [engine for s in sets for engine in (s.stt, s.tts, s.llm)]


def app_metrics(services: Services) -> AppMetrics:
    """This app's metrics, created (and registered for the call-loop hooks) on first use."""
    if services.metrics is not None:
        return services.metrics

    def live_calls() -> Mapping[str, Any]:
        return services.voice.calls if services.voice is not None else {}

    def live_engines() -> Iterable[Any]:
        return _engine_objects(services.voice.engines if services.voice is not None else None)

    metrics = AppMetrics(live_calls, live_engines, instance_id=services.instance_id)
    services.metrics = metrics
    register(metrics)
    return metrics


async def on_startup(services: Services) -> None:
    metrics = app_metrics(services)
    if metrics.shared_dir is not None:
        _publishers[id(services)] = asyncio.create_task(_publish_every(metrics), name="metrics-snapshot")


async def _publish_every(metrics: AppMetrics) -> None:
    while True:
        await asyncio.sleep(SNAPSHOT_INTERVAL_S)
        try:
            metrics.publish()
        except Exception:
            log.debug("metrics snapshot failed", exc_info=True)


async def on_shutdown(services: Services) -> None:
    task = _publishers.pop(id(services), None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if services.metrics is not None:
        unregister(services.metrics)
        if services.metrics.shared_dir is not None:
            services.metrics.publish(final=True)  # its counters stay in the totals, its calls are over
            mark_worker_gone(services.metrics.shared_dir, os.getpid())
