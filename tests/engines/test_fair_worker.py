"""The shared engine worker's order of service, stepped by hand (no thread, no clock): finals before
partials, calls in turn, a short clip never behind more than one long decode, short clips batched."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from sdr_agent.engines.local.fair_worker import FairWorker, Priority, Ticket


@dataclass(frozen=True)
class Job:
    name: str
    long: bool = False


def make_worker(max_batch: int = 4) -> FairWorker[Job, str]:
    def run(jobs: Sequence[Job]) -> list[str | BaseException]:
        return [ValueError(job.name) if job.name == "bad" else job.name for job in jobs]

    return FairWorker("test", run, max_batch=max_batch, is_long=lambda job: job.long, threaded=False)


def step(worker: FairWorker[Job, str]) -> list[str]:
    batch = worker.next_batch()
    worker.run_now(batch)
    return [t.payload.name for t in batch]


def test_finals_go_before_partials_and_partials_do_not_ride_with_finals() -> None:
    worker = make_worker()
    worker.submit("a", Job("a-partial"), Priority.LATER)
    worker.submit("b", Job("b-partial"), Priority.LATER)
    worker.submit("c", Job("c-final"))
    worker.submit("d", Job("d-final"))
    assert step(worker) == ["c-final", "d-final"]
    assert step(worker) == ["a-partial", "b-partial"]
    assert step(worker) == []


def test_interim_work_is_batched_less_than_finals() -> None:
    worker: FairWorker[Job, str] = FairWorker("test", lambda jobs: [j.name for j in jobs], max_batch=4,
                                              max_later_batch=2, threaded=False)
    for owner in "abc":
        worker.submit(owner, Job(f"{owner}-partial"), Priority.LATER)
    assert step(worker) == ["a-partial", "b-partial"]
    for owner in "xyz":
        worker.submit(owner, Job(f"{owner}-final"))
    assert step(worker) == ["x-final", "y-final", "z-final"]
    assert step(worker) == ["c-partial"]


def test_a_promoted_partial_is_served_with_the_finals() -> None:
    worker = make_worker()
    worker.submit("a", Job("a-other"), Priority.LATER)
    partial = worker.submit("b", Job("b-closing"), Priority.LATER)
    worker.submit("c", Job("c-final"))
    worker.promote(partial)
    assert step(worker) == ["b-closing", "c-final"]


def test_calls_take_turns_and_each_gets_its_own_result() -> None:
    worker = make_worker(max_batch=1)
    tickets = [worker.submit("a", Job(f"a{i}")) for i in range(3)]
    tickets.append(worker.submit("b", Job("b0")))
    order = [name for _ in range(4) for name in step(worker)]
    assert order == ["a0", "b0", "a1", "a2"]
    assert [t.future.result(0) for t in tickets] == ["a0", "a1", "a2", "b0"]


def test_short_clips_are_batched_up_to_the_limit_and_long_ones_run_alone() -> None:
    worker = make_worker(max_batch=3)
    worker.submit("e", Job("e-long", long=True))
    worker.submit("f", Job("f-long", long=True))
    for owner in "abcd":
        worker.submit(owner, Job(f"{owner}-short"))
    assert step(worker) == ["e-long"]  # the oldest job goes first, alone
    assert step(worker) == ["a-short", "b-short", "c-short"]  # after a long one, the short ones
    assert step(worker) == ["d-short"]  # the batch was full, but d already sat through one long decode
    assert step(worker) == ["f-long"]


def test_a_failure_fails_only_its_own_ticket_and_cancelled_jobs_are_skipped() -> None:
    worker = make_worker()
    good = worker.submit("a", Job("good"))
    bad = worker.submit("b", Job("bad"))
    dropped = worker.submit("c", Job("dropped"))
    assert dropped.future.cancel()
    assert step(worker) == ["good", "bad"]
    assert good.future.result(0) == "good"
    with pytest.raises(ValueError, match="bad"):
        bad.future.result(0)


@pytest.mark.parametrize("seed", range(8))
def test_a_short_utterance_waits_for_at_most_one_long_decode_of_other_calls(seed: int) -> None:
    """Random arrivals of long and short finals from several calls; after every unit some arrive. Each short
    job may wait for the unit in progress when it arrived plus at most one long unit."""
    rng = random.Random(seed)
    worker = make_worker(max_batch=4)
    submitted_at: dict[int, int] = {}  # ticket seq → units run before it was submitted
    tickets: list[Ticket[Job, str]] = []
    units: list[list[Ticket[Job, str]]] = []
    for round_ in range(200):
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            owner = f"call{rng.randrange(6)}"
            long = rng.random() < 0.4
            ticket = worker.submit(owner, Job(f"{owner}-{round_}", long=long))
            submitted_at[ticket.seq] = len(units)
            tickets.append(ticket)
        batch = worker.next_batch()
        worker.run_now(batch)
        if batch:
            units.append(batch)
    while batch := worker.next_batch():
        worker.run_now(batch)
        units.append(batch)
    ran_at = {t.seq: index for index, unit in enumerate(units) for t in unit}
    assert len(ran_at) == len(tickets)  # nobody starves
    shorts = [t for t in tickets if not t.long]
    assert shorts and any(t.long for t in tickets)
    for ticket in shorts:
        waited = units[submitted_at[ticket.seq] : ran_at[ticket.seq]]
        longs_in_between = sum(1 for unit in waited if unit[0].long and unit[0].owner != ticket.owner)
        assert longs_in_between <= 1, (ticket.payload, [u[0].payload for u in waited])


def test_the_worker_does_not_keep_a_finished_call_alive() -> None:
    class Call:
        pass

    worker = make_worker()
    call = Call()
    worker.submit(call, Job("last words"))
    assert step(worker) == ["last words"]
    gone = weakref.ref(call)
    del call
    gc.collect()
    assert gone() is None


async def test_the_threaded_worker_resolves_awaiting_callers() -> None:
    worker: FairWorker[Job, str] = FairWorker("threaded", lambda jobs: [j.name.upper() for j in jobs],
                                              max_batch=4)
    results = await asyncio.gather(*(worker.run(owner, Job(owner)) for owner in ("x", "y", "z")))
    assert results == ["X", "Y", "Z"]


def test_numpy_blas_runs_on_one_thread_once_a_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from sdr_agent.engines.local import cpu_threads

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "_done", False)
    cpu_threads.limit_blas_threads()
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == cpu_threads.BLAS_THREADS for pool in blas)
