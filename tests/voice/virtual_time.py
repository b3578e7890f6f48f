"""An asyncio loop on a virtual clock: when nothing is ready to run, time jumps to the next timer.

The call loop takes its clock by injection (``CallSession(clock=...)``) and sleeps with ``asyncio.sleep``;
on this loop both read ``loop.time()``, so a 7 s call timeline runs in a fraction of a second and its
timings are exact instead of whatever a busy CI machine allows. Only for code that does not wait on
threads or sockets (fakes, and synchronous engines such as Silero called inline).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0

    def time(self) -> float:
        return self._now

    def _run_once(self) -> None:
        ready: Any = getattr(self, "_ready")  # noqa: B009 - the base loop's run queue
        scheduled: Any = getattr(self, "_scheduled")  # noqa: B009
        if not ready and scheduled:
            when = scheduled[0].when()
            if when > self._now:
                self._now = when
        super()._run_once()  # type: ignore[misc]


def on_virtual_clock(test: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an ``async def`` test on a fresh ``VirtualTimeLoop`` (the test itself becomes synchronous)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> T:
        loop = VirtualTimeLoop()
        try:
            return loop.run_until_complete(test(*args, **kwargs))
        finally:
            loop.close()

    return run


def now() -> float:
    return asyncio.get_running_loop().time()
