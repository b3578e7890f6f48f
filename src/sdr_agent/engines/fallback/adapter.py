"""What every fallback adapter shares: its roster, its first-result budget, and the turn-by-turn failover
used by the language model and speech synthesis (each turn tries the healthy engines in order)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sdr_agent.engines.base import close_quietly
from sdr_agent.engines.fallback.roster import EngineRoster, EngineSwitch, SwitchListener, describe_failure

E = TypeVar("E")
T = TypeVar("T")


class FallbackAdapter(Generic[E]):
    def __init__(
        self,
        kind: str,
        engines: Sequence[E],
        *,
        probe: Callable[[E], Awaitable[None]],
        first_result_timeout_s: float,
        on_switch: SwitchListener | None,
        probe_interval_s: float,
    ) -> None:
        self.roster = EngineRoster(
            kind,
            engines,
            probe=probe,
            on_switch=on_switch,
            probe_interval_s=probe_interval_s,
            probe_timeout_s=max(2 * first_result_timeout_s, 5.0),
        )
        self.budget_s = first_result_timeout_s
        self.name = "+".join(self.roster.name(i) for i in range(len(engines)))
        self._last_used = 0

    @property
    def switches(self) -> list[EngineSwitch]:
        return self.roster.switches

    async def aclose(self) -> None:
        await self.roster.aclose()

    async def fail_over(
        self,
        attempt: Callable[[int, float | None], AsyncGenerator[T, None]],
        *,
        timeout_reason: str,
        all_failed: str,
    ) -> AsyncGenerator[T, None]:
        """One turn: ``attempt(index, budget)`` on each candidate until one completes. ``budget`` bounds the
        wait for its first item (``None`` for the last candidate: there is nothing after it)."""
        roster = self.roster
        candidates = roster.candidates()
        if candidates[0] != self._last_used:
            reason = "recovered" if candidates[0] < self._last_used else "unhealthy"
            roster.report(self._last_used, candidates[0], reason)
        for position, index in enumerate(candidates):
            self._last_used = index
            budget = None if position == len(candidates) - 1 else self.budget_s
            items = attempt(index, budget)
            try:
                async with contextlib.aclosing(items):
                    async for item in items:
                        yield item
                return
            except Exception as exc:
                reason = timeout_reason if isinstance(exc, TimeoutError) else describe_failure(exc)
                everything_failed = f"{all_failed}; last: {reason}"
                roster.move_past(candidates, position, reason, cause=exc, all_failed=everything_failed)


async def first_within(items: AsyncIterator[T], budget: float | None) -> AsyncGenerator[T, None]:
    """``items``, raising ``TimeoutError`` when the first one takes longer than ``budget``."""
    try:
        async with asyncio.timeout(budget):
            try:
                first = await anext(items)
            except StopAsyncIteration:
                return
        yield first
        async for item in items:
            yield item
    finally:
        await close_quietly(items)

