"""Prometheus metrics of one app: a registry per app, fed by two hooks from the call loop and read from live
objects at scrape time.

Hooks (cheap, never raise, safe to call with no app running):

* ``observe_turn(turn.metrics(), interrupted=...)`` when an agent turn closes: per-stage latency histograms
  (ms since the caller's end of speech), barge-in stop latency, backchannels, hiccups, echo ignored;
* ``observe_call_end(stats.as_dict(), call_sid=...)`` when a call finishes: its ``CallStats`` counters are
  folded into the app's totals.

At scrape time the collector adds the counters of calls still live (``voice`` runtime's ``calls``) to those
totals, counts active calls, and counts engine fallbacks from the fallback engines' ``switches``. The
webhook backlog is a gauge the endpoint refreshes from the database before rendering.

Observations are routed to the app whose voice runtime holds the call (the call sid is taken from the
argument or the log context ``bind_call`` set); with a single app in the process it gets them all.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sdr_agent.logs import current_call
from sdr_agent.observability.shared import LiveSnapshot, combine, multiprocess_dir, read_snapshots

log = logging.getLogger(__name__)

STAGES = ("vad_end", "stt_final", "llm_first_token", "tts_first_audio", "first_audio_sent")
LATENCY_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0)
STOP_BUCKETS = (0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0)
# CallStats field -> (counter name without _total, help). Read from live calls and from finished ones.
CALL_COUNTERS: dict[str, tuple[str, str]] = {
    "bargein_holds": ("sdr_bargein_holds", "Speech onsets while the agent was audible (agent paused)."),
    "interruptions": ("sdr_bargein_interruptions", "Barge-ins that made the agent give up its turn."),
    "resumes": ("sdr_bargein_resumes", "False barge-ins: the agent paused, then carried on."),
    "engine_errors": ("sdr_engine_errors", "Engine failures inside calls (STT, TTS, LLM, VAD)."),
    "malformed_frames": ("sdr_malformed_frames", "Media stream messages skipped as malformed."),
    "echo_turns_ignored": ("sdr_echo_turns_ignored", "Caller turns dropped as the agent's own echo."),
    "mark_timeouts": ("sdr_mark_timeouts", "Agent turns closed by the clock because marks never came back."),
    "frames_in": ("sdr_media_frames_in", "Inbound 20 ms media frames."),
}
BACKLOG_STATUSES = ("pending", "sending")

LiveCalls = Callable[[], Mapping[str, Any]]
LiveEngines = Callable[[], Iterable[Any]]


def _no_calls() -> Mapping[str, Any]:
    return {}


def _no_engines() -> Iterable[Any]:
    return ()


class AppMetrics:
    """Collectors and a registry for one app. ``live_calls`` returns call sid -> session (with ``.stats``);
    ``live_engines`` returns the engine objects whose ``switches`` count fallbacks."""

    def __init__(
        self,
        live_calls: LiveCalls = _no_calls,
        live_engines: LiveEngines = _no_engines,
        instance_id: str = "",
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Every replica serves its own numbers; this names the process (the scraper adds its address too),
        # so series from several replicas are told apart and summed on purpose, never by accident.
        self.process_info = Gauge(
            "sdr_process_info", "This server process (always 1).", ["instance_id"], registry=self.registry,
            multiprocess_mode="liveall",  # with several workers: one series per worker still running
        )
        self.process_info.labels(instance_id=instance_id or "unnamed").set(1)
        self._live_calls = live_calls
        self._live_engines = live_engines
        self._lock = threading.Lock()
        self._finished: dict[str, int] = dict.fromkeys(CALL_COUNTERS, 0)
        self._calls_ended = 0
        self._ended_sids: set[str] = set()
        # Set when this process is one of several workers (``observability.shared``).
        self.shared_dir = multiprocess_dir()
        self.stage_latency = Histogram(
            "sdr_turn_stage_latency_seconds",
            "Agent turn stages, seconds since the caller's end of speech.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stop_latency = Histogram(
            "sdr_bargein_stop_latency_seconds",
            "Real interruptions: caller speech onset to the agent no longer audible.",
            buckets=STOP_BUCKETS,
            registry=self.registry,
        )
        self.agent_turns = Counter(
            "sdr_agent_turns", "Agent turns that ended, by outcome.", ["outcome"], registry=self.registry
        )
        self.backchannels = Counter(
            "sdr_backchannels", "Backchannels the agent talked through.", registry=self.registry
        )
        self.hiccups = Counter(
            "sdr_bargein_hiccups", "False barge-ins heard as a short pause.", registry=self.registry
        )
        self.echo_ignored = Counter(
            "sdr_echo_ignored", "Onsets recognised as the agent's own echo.", registry=self.registry
        )
        self.webhook_backlog = Gauge(
            "sdr_webhook_backlog", "Webhook deliveries not yet delivered.", ["status"],
            # Several workers: it is read from the shared database, so the latest read is the truth.
            registry=self.registry, multiprocess_mode="mostrecent",
        )
        for status in BACKLOG_STATUSES:
            self.webhook_backlog.labels(status=status).set(0)
        for outcome in ("completed", "interrupted"):
            self.agent_turns.labels(outcome=outcome)
        self.registry.register(_LiveCollector(self))

    # ------------------------------------------------------------ observations
    def observe_turn(self, metrics: Mapping[str, Any], *, interrupted: bool) -> None:
        stages = metrics.get("stages_ms")
        if isinstance(stages, Mapping):
            for stage, value in stages.items():
                ms = _number(value)
                if stage in STAGES and ms is not None and ms >= 0:
                    self.stage_latency.labels(stage=stage).observe(ms / 1000.0)
        stop = _number(metrics.get("stop_latency_ms"))
        if interrupted and stop is not None and stop >= 0:
            self.stop_latency.observe(stop / 1000.0)
        self.agent_turns.labels(outcome="interrupted" if interrupted else "completed").inc()
        for key, counter in (("backchannels", self.backchannels), ("hiccups", self.hiccups),
                             ("echo_ignored", self.echo_ignored)):
            count = _number(metrics.get(key))
            if count is not None and count > 0:
                counter.inc(count)

    def observe_call_end(self, call_sid: str | None, stats: Mapping[str, Any]) -> None:
        with self._lock:
            if call_sid is not None:
                if call_sid in self._ended_sids:
                    return  # finish() ran twice: count the call once
                self._ended_sids.add(call_sid)
            self._calls_ended += 1
            for field in CALL_COUNTERS:
                value = _number(stats.get(field))
                if value is not None and value > 0:
                    self._finished[field] += int(value)
        self.publish()

    def set_webhook_backlog(self, counts: Mapping[str, int]) -> None:
        for status in BACKLOG_STATUSES:
            self.webhook_backlog.labels(status=status).set(counts.get(status, 0))

    def owns(self, call_sid: str) -> bool:
        try:
            return call_sid in self._live_calls()
        except Exception:
            return False

    def render(self) -> bytes:
        if self.shared_dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        # Several workers: the library's files of every worker, plus every worker's live snapshot.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.shared_dir))  # type: ignore[no-untyped-call]
        registry.register(_SharedLiveCollector(self))
        return generate_latest(registry)

    def snapshot(self) -> LiveSnapshot:
        active, totals, ended = self.call_counters()
        fallbacks = {"\0".join(key): count for key, count in self.fallback_counts().items()}
        return LiveSnapshot(pid=os.getpid(), active=active, ended=ended, totals=totals, fallbacks=fallbacks)

    def publish(self, *, final: bool = False) -> LiveSnapshot | None:
        """Write this worker's snapshot for the others (no-op with one process). ``final``: it is exiting,
        so its calls no longer count as active."""
        if self.shared_dir is None:
            return None
        try:
            snap = self.snapshot()
        except Exception:
            log.exception("reading live call counters failed")
            return None
        if final:
            snap.active = 0
        snap.write(self.shared_dir)
        return snap

    # ------------------------------------------------------------ scrape-time reads
    def call_counters(self) -> tuple[int, dict[str, int], int]:
        """(active calls, counter totals incl. live calls, calls ended)."""
        live = dict(self._live_calls())
        with self._lock:
            totals = dict(self._finished)
            ended = self._calls_ended
            self._ended_sids &= set(live)  # sids that left the registry can never be counted as live again
            running = {sid: session for sid, session in live.items() if sid not in self._ended_sids}
        for session in running.values():
            stats = getattr(session, "stats", None)
            for field in CALL_COUNTERS:
                value = _number(getattr(stats, field, 0))
                if value is not None and value > 0:
                    totals[field] += int(value)
        return len(running), totals, ended

    def fallback_counts(self) -> dict[tuple[str, str, str], int]:
        counts: dict[tuple[str, str, str], int] = {}
        seen: set[int] = set()
        for engine in self._live_engines():
            if id(engine) in seen:
                continue
            seen.add(id(engine))
            for switch in list(getattr(engine, "switches", None) or ()):
                key = (str(getattr(switch, "kind", "?")), str(getattr(switch, "from_engine", "?")),
                       str(getattr(switch, "to_engine", "?")))
                counts[key] = counts.get(key, 0) + 1
        return counts


class _LiveCollector:
    """Counters and gauges computed from live objects each time the registry is collected."""

    def __init__(self, metrics: AppMetrics) -> None:
        self._metrics = weakref.ref(metrics)

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics()
        if metrics is None:
            return
        try:
            active, totals, ended = metrics.call_counters()
        except Exception:
            log.exception("reading live call counters failed")
            active, totals, ended = 0, dict.fromkeys(CALL_COUNTERS, 0), 0
        try:
            fallbacks = metrics.fallback_counts()
        except Exception:
            log.exception("reading engine fallbacks failed")
            fallbacks = {}
        yield from _live_families(active, totals, ended, fallbacks)


class _SharedLiveCollector:
    """The live values summed over every worker: this one's fresh, the others' latest snapshots."""

    def __init__(self, metrics: AppMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        own = metrics.publish() or LiveSnapshot(pid=os.getpid())
        assert metrics.shared_dir is not None
        total = combine([own, *read_snapshots(metrics.shared_dir, own.pid)])
        totals = {field: total.totals.get(field, 0) for field in CALL_COUNTERS}
        fallbacks: dict[tuple[str, str, str], int] = {}
        for key, count in total.fallbacks.items():
            parts = key.split("\0")
            if len(parts) == 3:
                fallbacks[(parts[0], parts[1], parts[2])] = count
        yield from _live_families(total.active, totals, total.ended, fallbacks)


def _live_families(
    active: int, totals: Mapping[str, int], ended: int, fallback_counts: Mapping[tuple[str, str, str], int]
) -> Iterator[Metric]:
    yield GaugeMetricFamily("sdr_active_calls", "Calls with a live media stream.", value=active)
    yield CounterMetricFamily("sdr_calls_ended", "Calls whose media stream has ended.", value=ended)
    for field, (name, help_text) in CALL_COUNTERS.items():
        yield CounterMetricFamily(name, help_text, value=totals[field])
    fallbacks = CounterMetricFamily(
        "sdr_engine_fallbacks", "Switches from a failing engine to the next one.",
        labels=["kind", "from_engine", "to_engine"],
    )
    for (kind, source, target), count in sorted(fallback_counts.items()):
        fallbacks.add_metric([kind, source, target], count)
    yield fallbacks


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# ------------------------------------------------------------------ hooks for the call loop
_apps: weakref.WeakSet[AppMetrics] = weakref.WeakSet()


def register(metrics: AppMetrics) -> None:
    _apps.add(metrics)


def unregister(metrics: AppMetrics) -> None:
    _apps.discard(metrics)


def _target(call_sid: str | None) -> AppMetrics | None:
    apps = list(_apps)
    sid = call_sid or current_call()[0]
    if sid is not None:
        for app in apps:
            if app.owns(sid):
                return app
    return apps[0] if len(apps) == 1 else None


def observe_turn(metrics: Mapping[str, Any], *, interrupted: bool = False) -> None:
    """An agent turn closed (``AgentTurn.metrics()``); see the module docstring."""
    try:
        app = _target(None)
        if app is not None:
            app.observe_turn(metrics, interrupted=interrupted)
    except Exception:
        log.debug("observe_turn failed", exc_info=True)


def observe_call_end(stats: Mapping[str, Any], *, call_sid: str | None = None) -> None:
    """A call finished (``CallStats.as_dict()``); call it before the session leaves the runtime's calls."""
    try:
        sid = call_sid or current_call()[0]
        app = _target(sid)
        if app is not None:
            app.observe_call_end(sid, stats)
    except Exception:
        log.debug("observe_call_end failed", exc_info=True)
