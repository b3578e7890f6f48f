"""One worker thread per engine per process that serves every call fairly, with optional batching.

The offline engines (Whisper, hibari) each run on one thread: two inferences side by side on a 2-core
machine only make both late. With several calls the order of that queue *is* the latency, so jobs are not
served first-in first-out:

- ``Priority.URGENT`` before ``Priority.LATER``: a final decode before an interim one, the first audio of a
  reply before later sentences. Interim work can never delay a final by more than the unit in progress.
- Round robin between owners (calls) inside a priority: the owner served longest ago goes first, so a call
  that keeps submitting never pushes another call back more than one unit.
- Short before long after a long: a job marked ``long`` (a 30 s Whisper decode) is never followed by a
  second long one while a short job of the same priority waits. With round robin this bounds what long
  utterances cost a short one from another call: the unit in progress plus at most one long unit.
- Batching: when ``max_batch`` > 1 a short head takes other short jobs of the same priority along (oldest
  served owners first) and ``run_batch`` gets them together (CTranslate2 decodes a batch in one pass);
  ``max_later_batch`` keeps batches of interim work smaller, since a final waits for the one in progress.

``units`` records, for tests and diagnosis, which tickets ran together and in what order (ids only: the
history must not keep a finished call's audio alive).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")

KEPT_BATCHES = 256  # history kept in ``units``
PRUNE_OWNERS_AT = 1024  # forget the round-robin turn of owners with nothing queued beyond this many


class Priority(IntEnum):
    URGENT = 0  # a final transcript; the first audio of a reply
    LATER = 1  # an interim transcript; a later sentence


@dataclass(frozen=True, slots=True)
class Unit:
    """One run of ``run_batch``: its tickets' ``seq`` and ``id(owner)``, the head's priority and length."""

    seqs: tuple[int, ...]
    owners: tuple[int, ...]
    priority: Priority
    long: bool


@dataclass(eq=False)
class Ticket(Generic[P, R]):
    """One submitted job. ``future`` resolves on the worker thread; cancel it to drop a job still queued."""

    owner: Hashable
    payload: P
    priority: Priority
    long: bool
    seq: int
    future: Future[R] = field(default_factory=Future)


class FairWorker(Generic[P, R]):
    """A single daemon thread running ``run_batch`` over fairly chosen tickets (started on first use).

    ``threaded=False`` starts no thread: whoever owns the worker calls ``next_batch`` and ``run_now``, one
    step at a time — the order of service can then be checked without a clock.

    ``run_batch`` gets the payloads of one batch and returns one result per payload, in order; an exception
    in place of a result fails only that ticket, an exception raised fails the whole batch.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[Sequence[P]], Sequence[R | BaseException]],
        *,
        max_batch: int = 1,
        max_later_batch: int | None = None,
        is_long: Callable[[P], bool] | None = None,
        threaded: bool = True,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.name = name
        self.max_batch = max_batch
        # Interim work batches less: a final that arrives just after it started waits for all of it.
        self.max_later_batch = min(max_batch, max_later_batch or max_batch)
        self._run_batch = run_batch
        self._is_long = is_long or (lambda _payload: False)
        self._queue: list[Ticket[P, R]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._tick = itertools.count(1)
        # id(owner) → tick of its last unit (round robin). Ids, not owners: a finished call's stream must not
        # stay alive here; a reused id only costs one turn of order.
        self._served: dict[int, int] = {}
        self._last_long = False
        self._long_gate = 0  # tickets with a lower seq were queued while the last long job started
        self._threaded = threaded  # False: the owner drives ``next_batch``/``run_now`` itself (tests)
        self._thread: threading.Thread | None = None
        self.units: deque[Unit] = deque(maxlen=KEPT_BATCHES)

    # ------------------------------------------------------------------ any thread
    def submit(self, owner: Hashable, payload: P, priority: Priority = Priority.URGENT) -> Ticket[P, R]:
        ticket: Ticket[P, R] = Ticket(owner, payload, priority, self._is_long(payload), next(self._seq))
        with self._cond:
            self._queue.append(ticket)
            if self._thread is None and self._threaded:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return ticket

    def promote(self, ticket: Ticket[P, R]) -> None:
        """A queued interim job became needed for a final (its words will be the final's)."""
        with self._cond:
            ticket.priority = Priority.URGENT

    async def run(self, owner: Hashable, payload: P, priority: Priority = Priority.URGENT) -> R:
        """Submit and await; cancelling the awaiting task drops the job if it has not started."""
        return await asyncio.wrap_future(self.submit(owner, payload, priority).future)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    # ------------------------------------------------------------------ worker thread
    def _key(self, ticket: Ticket[P, R], hold_long: bool) -> tuple[int, int, int, int]:
        held = 1 if hold_long and ticket.long else 0
        return (int(ticket.priority), held, self._served.get(id(ticket.owner), 0), ticket.seq)

    def next_batch(self) -> list[Ticket[P, R]]:
        """Take the next unit off the queue (caller holds no lock; returns [] when nothing runnable)."""
        with self._cond:
            live = [t for t in self._queue if not t.future.cancelled()]
            self._queue = live
            if not live:
                return []
            # Hold long jobs back right after a long one, and while a short job that already sat through a
            # long one (queued before it started; a full batch may have left it behind) is still waiting.
            hold_long = self._last_long or any(not t.long and t.seq < self._long_gate for t in live)
            live.sort(key=lambda t: self._key(t, hold_long))
            head = live[0]
            batch = [head]
            if not head.long:
                limit = self.max_batch if head.priority is Priority.URGENT else self.max_later_batch
                for ticket in live[1:]:
                    if len(batch) >= limit:
                        break
                    if not ticket.long and ticket.priority == head.priority:
                        batch.append(ticket)
            chosen = {id(t) for t in batch}
            self._queue = [t for t in live if id(t) not in chosen]
            tick = next(self._tick)
            for ticket in batch:
                self._served[id(ticket.owner)] = tick
            self._last_long = head.long
            if head.long:
                self._long_gate = head.seq + 1 if not self._queue else max(t.seq for t in self._queue) + 1
            if len(self._served) > PRUNE_OWNERS_AT:
                queued = {id(t.owner) for t in self._queue}
                self._served = {o: s for o, s in self._served.items() if o in queued}
        # A ticket cancelled between the sort and now is dropped here (its future refuses to run).
        return [t for t in batch if t.future.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
            batch = self.next_batch()
            if batch:
                self.run_now(batch)

    def run_now(self, batch: list[Ticket[P, R]]) -> None:
        if not batch:
            return
        head = batch[0]
        self.units.append(Unit(tuple(t.seq for t in batch), tuple(id(t.owner) for t in batch), head.priority,
                               head.long))
        try:
            results = list(self._run_batch([t.payload for t in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for a batch of {len(batch)}")
        except BaseException as exc:  # every waiting caller must hear about it
            results = [exc] * len(batch)
        for ticket, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                ticket.future.set_exception(result)
            else:
                ticket.future.set_result(result)
