"""Start/stop hooks: each app gets its own ``AppMetrics`` in ``services.metrics``, reading the
voice runtime's live calls and engines (looked up at scrape time, so hook order does not matter)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sdr_agent.engines.factory import EngineSet
from sdr_agent.observability.metrics import AppMetrics, register, unregister
from sdr_agent.services import Services


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
    app_metrics(services)


async def on_shutdown(services: Services) -> None:
    if services.metrics is not None:
        unregister(services.metrics)
