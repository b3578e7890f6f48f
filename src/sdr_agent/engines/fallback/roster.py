"""The ordered engines of one kind, which are healthy, background probes, and the record of switches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, TypeVar

from sdr_agent.engines.base import EngineError

logger = logging.getLogger("sdr_agent.engines.fallback")

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class EngineSwitch:
    """One move from an engine to another during a call (stored in the conversation metadata)."""

    kind: str  # "stt" | "tts" | "llm"
    from_engine: str
    to_engine: str
    reason: str
    at_unix: float


SwitchListener = Callable[[EngineSwitch], None]

# Engines are shared by every call, so a per-call listener travels with the call's tasks instead.
_call_listener: ContextVar[SwitchListener | None] = ContextVar("engine_switch_listener", default=None)


@contextlib.contextmanager
def switches_reported_to(listener: SwitchListener) -> Iterator[None]:
    """Within this block (and tasks started in it) every engine switch is also passed to ``listener``:
    a call session records the switches of its own call in the conversation metadata this way."""
    token = _call_listener.set(listener)
    try:
        yield
    finally:
        _call_listener.reset(token)


def engine_name(engine: object) -> str:
    name = getattr(engine, "name", None)
    return name if isinstance(name, str) and name else type(engine).__name__


def describe_failure(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class EngineRoster(Generic[E]):
    """Engines in preference order. A failed engine is marked unhealthy and probed every ``probe_interval_s``
    until its probe succeeds; then it is preferred again."""

    def __init__(
        self,
        kind: str,
        engines: Sequence[E],
        *,
        probe: Callable[[E], Awaitable[None]],
        on_switch: SwitchListener | None,
        probe_interval_s: float,
        probe_timeout_s: float,
    ) -> None:
        if not engines:
            raise ValueError(f"a fallback {kind} needs at least one engine")
        self.kind = kind
        self.engines = list(engines)
        self.switches: list[EngineSwitch] = []
        self._healthy = [True] * len(self.engines)
        self._probe = probe
        self._on_switch = on_switch
        self._probe_interval_s = probe_interval_s
        self._probe_timeout_s = probe_timeout_s
        self._probes: dict[int, asyncio.Task[None]] = {}

    def name(self, index: int) -> str:
        return engine_name(self.engines[index])

    def is_healthy(self, index: int) -> bool:
        return self._healthy[index]

    def is_last(self, index: int) -> bool:
        return index == len(self.engines) - 1

    def candidates(self, *, excluding: int | None = None) -> list[int]:
        """Healthy engines in preference order; when none is healthy, all of them (better than nothing)."""
        others = [i for i in range(len(self.engines)) if i != excluding]
        return [i for i in others if self._healthy[i]] or others

    def mark_failed(self, index: int) -> None:
        self._healthy[index] = False
        if index not in self._probes or self._probes[index].done():
            self._probes[index] = asyncio.get_running_loop().create_task(
                self._probe_until_healthy(index), name=f"probe-{self.kind}-{self.name(index)}"
            )

    def move_past(
        self, candidates: list[int], position: int, reason: str, *, cause: Exception, all_failed: str
    ) -> None:
        """``candidates[position]`` failed: mark it and report the move to the next candidate, or raise
        ``all_failed`` when it was the last."""
        index = candidates[position]
        self.mark_failed(index)
        if position == len(candidates) - 1:
            raise EngineError(all_failed) from cause
        self.report(index, candidates[position + 1], reason)

    def report(self, from_index: int, to_index: int, reason: str) -> EngineSwitch:
        switch = EngineSwitch(
            kind=self.kind,
            from_engine=self.name(from_index),
            to_engine=self.name(to_index),
            reason=reason,
            at_unix=time.time(),
        )
        self.switches.append(switch)
        logger.warning(
            "%s engine switch %s -> %s: %s", switch.kind, switch.from_engine, switch.to_engine, switch.reason
        )
        for listener in (self._on_switch, _call_listener.get()):
            if listener is None:
                continue
            try:
                listener(switch)
            except Exception:
                logger.exception("engine switch listener failed")
        return switch

    async def warm_up_all(self) -> None:
        """Warm every engine that can be warmed: a fallback only helps if it answers at once when needed.
        An engine that fails to warm up starts unhealthy (and is probed); only all of them failing raises."""
        warmed, failures = 0, []
        for index, engine in enumerate(self.engines):
            warm = getattr(engine, "warm_up", None)
            if warm is None:
                continue
            try:
                await warm()
                warmed += 1
            except Exception as exc:
                self.mark_failed(index)
                failures.append(f"{self.name(index)}: {describe_failure(exc)}")
                logger.warning("%s engine failed to warm up: %s", self.kind, failures[-1])
        if failures and not warmed:
            raise EngineError(f"no {self.kind} engine warmed up ({'; '.join(failures)})")

    async def aclose(self) -> None:
        for task in self._probes.values():
            task.cancel()
        await asyncio.gather(*self._probes.values(), return_exceptions=True)
        self._probes.clear()

    async def _probe_until_healthy(self, index: int) -> None:
        engine = self.engines[index]
        while True:
            await asyncio.sleep(self._probe_interval_s)
            try:
                async with asyncio.timeout(self._probe_timeout_s):
                    await self._probe(engine)
            except Exception as exc:
                why = describe_failure(exc)
                logger.info("%s engine %s still unhealthy: %s", self.kind, self.name(index), why)
                continue
            self._healthy[index] = True
            logger.info("%s engine %s is healthy again", self.kind, self.name(index))
            return
