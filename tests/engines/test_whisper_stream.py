"""WhisperStream's segmentation and scheduling with a stub decoder (no model, fast, deterministic)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Sequence
from typing import Any, cast

import numpy as np
import pytest
from engine_audio import frames, silence

from sdr_agent.engines.base import PCM16, EngineError, Transcript
from sdr_agent.engines.fakes import FakeVAD, voiced_signal
from sdr_agent.engines.local.fair_worker import FairWorker, Priority, Ticket
from sdr_agent.engines.local.whisper_model import Clip, Recognition, SharedWhisper
from sdr_agent.engines.local.whisper_stt import PRE_ROLL_MS, WhisperStream


class StubWhisper:
    """Says how many samples it was given; can be held (to simulate a slow decode) or made to fail."""

    def __init__(self) -> None:
        # The real fair worker, with this stub as its decoder.
        self.worker: FairWorker[Clip, Recognition] = FairWorker("stub-whisper", self._batch)
        self.decoded: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()  # a decode has started
        self.fail: Exception | None = None

    def recognise(self, pcm: PCM16, sample_rate: int) -> Recognition:
        self.entered.set()
        self.release.wait(5)
        self.decoded.append(len(pcm))
        if self.fail is not None:
            raise self.fail
        return Recognition(f"heard {len(pcm)} samples", 0.8, (), 0.0)

    def _batch(self, clips: Sequence[Clip]) -> list[Recognition | BaseException]:
        out: list[Recognition | BaseException] = []
        for clip in clips:
            try:
                out.append(self.recognise(clip.pcm, clip.sample_rate))
            except Exception as exc:
                out.append(exc)
        return out

    def submit(
        self, owner: Hashable, pcm: PCM16, rate: int, priority: Priority, barge_in: bool = False
    ) -> Ticket[Clip, Recognition]:
        return self.worker.submit(owner, Clip(pcm, rate, barge_in), priority)

    def promote(self, ticket: Ticket[Clip, Recognition]) -> None:
        self.worker.promote(ticket)


def open_stream(stub: StubWhisper, interval_ms: int = 300) -> WhisperStream:
    return WhisperStream(cast(SharedWhisper, stub), FakeVAD(), 0.5, interval_ms)


async def feed(stream: WhisperStream, pcm: PCM16, pace_s: float = 0.0) -> None:
    for frame in frames(pcm):
        await stream.send(frame)
        await asyncio.sleep(pace_s)


async def next_result(stream: WhisperStream, timeout: float = 3.0) -> Transcript:
    iterator = cast(Any, stream.results())
    return cast(Transcript, await asyncio.wait_for(anext(iterator), timeout))


async def test_partials_follow_the_growing_segment_and_finalize_decodes_it_all() -> None:
    stub = StubWhisper()
    stream = open_stream(stub)
    await feed(stream, voiced_signal(180, 1000), pace_s=0.005)
    await asyncio.sleep(0.1)
    await stream.finalize()
    results = [await next_result(stream)]
    while not results[-1].is_final:
        results.append(await next_result(stream))
    partials = [r for r in results if not r.is_final]
    assert len(partials) >= 2
    sizes = [int(r.text.split()[1]) for r in partials]
    assert sizes == sorted(sizes) and sizes[0] >= 8 * 300
    final = results[-1]
    assert final.is_final and final.speech_final
    assert final.text == "heard 8000 samples"
    assert final.start_s == 0.0 and final.end_s == pytest.approx(1.0)
    await stream.aclose()


async def test_no_partial_before_enough_speech_and_no_decode_without_speech() -> None:
    stub = StubWhisper()
    stream = open_stream(stub)
    await feed(stream, np.concatenate([silence(2000), voiced_signal(180, 100)]))
    await asyncio.sleep(0.05)
    assert stub.decoded == []  # 100 ms of voice is below the partial minimum
    await stream.clear()
    await feed(stream, silence(500))
    await stream.finalize()
    final = await next_result(stream)
    assert (final.text, final.is_final, final.speech_final, final.confidence) == ("", True, True, 0.0)
    assert stub.decoded == []
    await stream.aclose()


async def test_a_partial_is_skipped_while_a_decode_is_running() -> None:
    stub = StubWhisper()
    stub.release.clear()
    stream = open_stream(stub, interval_ms=100)
    await feed(stream, voiced_signal(180, 1500), pace_s=0.001)
    stub.release.set()
    await asyncio.sleep(0.2)
    assert len(stub.decoded) == 1  # one partial in flight the whole time, the others were not queued
    await stream.aclose()


async def test_finalize_overtakes_a_running_partial_whose_result_is_dropped() -> None:
    stub = StubWhisper()
    stub.release.clear()
    stream = open_stream(stub)
    await feed(stream, voiced_signal(180, 600))
    assert await asyncio.to_thread(stub.entered.wait, 3)  # the partial is being decoded
    await stream.finalize()
    stub.release.set()
    final = await next_result(stream)
    assert final.is_final and final.text == "heard 4800 samples"
    assert len(stub.decoded) == 2  # the stale partial ran, but its text was not emitted
    await stream.aclose()


async def test_a_stale_partial_still_queued_on_the_shared_worker_is_never_decoded() -> None:
    stub = StubWhisper()
    stub.release.clear()
    other = stub.submit("another call", np.zeros(800, dtype=np.int16), 8000, Priority.URGENT)
    assert await asyncio.to_thread(stub.entered.wait, 3)  # the worker is busy with another call
    stream = open_stream(stub)
    await feed(stream, voiced_signal(180, 600))
    await asyncio.sleep(0.05)  # the partial is queued behind the other call's decode
    await stream.finalize()
    stub.release.set()
    final = await next_result(stream)
    assert final.is_final and final.text == "heard 4800 samples"
    assert (await asyncio.wrap_future(other.future)).text == "heard 800 samples"
    assert stub.decoded == [800, 4800]  # the other call's decode and the final: the partial was dropped
    await stream.aclose()


async def test_clear_drops_the_segment() -> None:
    stub = StubWhisper()
    stream = open_stream(stub, interval_ms=10_000)
    await feed(stream, voiced_signal(180, 400))
    await stream.clear()
    await feed(stream, silence(200))
    await stream.finalize()
    assert (await next_result(stream)).text == ""
    assert stub.decoded == []
    await stream.aclose()


async def test_leading_silence_is_trimmed_to_the_pre_roll() -> None:
    stub = StubWhisper()
    stream = open_stream(stub, interval_ms=10_000)
    await feed(stream, np.concatenate([silence(3000), voiced_signal(180, 500)]))
    await stream.finalize()
    final = await next_result(stream)
    assert stub.decoded == [8 * (PRE_ROLL_MS + 500)]
    assert final.start_s == pytest.approx(3.0 - PRE_ROLL_MS / 1000)
    await stream.aclose()


async def test_a_failed_final_surfaces_as_engine_error_a_failed_partial_does_not() -> None:
    stub = StubWhisper()
    stub.fail = RuntimeError("boom")
    stream = open_stream(stub)
    await feed(stream, voiced_signal(180, 800), pace_s=0.003)
    await asyncio.sleep(0.05)
    await stream.finalize()
    with pytest.raises(EngineError, match="boom"):
        await next_result(stream)
    stub.fail = None
    await feed(stream, voiced_signal(180, 300))
    await stream.finalize()
    assert (await next_result(stream)).text == "heard 2400 samples"
    await stream.aclose()


async def test_after_aclose_sends_are_ignored_and_results_end() -> None:
    stub = StubWhisper()
    stream = open_stream(stub)
    await stream.aclose()
    await feed(stream, voiced_signal(180, 500))
    await stream.finalize()
    assert [r async for r in stream.results()] == []
    assert stub.decoded == []


async def test_a_partial_taken_when_the_caller_pauses_becomes_the_final_without_a_second_decode() -> None:
    stub = StubWhisper()
    stream = open_stream(stub, interval_ms=10_000)  # no periodic partials: only the closing one
    stub.release.clear()  # hold the closing decode so finalize() arrives while it is in flight
    await feed(stream, voiced_signal(180, 600))
    await feed(stream, silence(60))
    await stream.finalize()
    stub.release.set()
    result = await next_result(stream)
    while not result.is_final:
        result = await next_result(stream)
    assert result.speech_final
    assert len(stub.decoded) == 1  # one decode: the voice (and the first quiet frame), reused as the final
    assert stub.decoded[0] >= 4800
    assert result.text == f"heard {stub.decoded[0]} samples"
    await stream.aclose()


async def test_voice_after_the_closing_partial_forces_a_fresh_final_decode() -> None:
    stub = StubWhisper()
    stream = open_stream(stub, interval_ms=10_000)
    await feed(stream, voiced_signal(180, 600))
    await feed(stream, silence(60))
    await asyncio.sleep(0.2)
    await feed(stream, voiced_signal(180, 300))
    await stream.finalize()
    result = await next_result(stream)
    while not result.is_final:
        result = await next_result(stream)
    assert len(stub.decoded) == 2 and stub.decoded[1] > stub.decoded[0]
    await stream.aclose()


async def test_a_closing_partial_that_finished_before_finalize_is_still_the_final() -> None:
    stub = StubWhisper()
    stream = open_stream(stub, interval_ms=10_000)
    await feed(stream, voiced_signal(180, 600))
    await feed(stream, silence(60))
    first = await next_result(stream)  # the closing partial is decoded and emitted before finalize()
    assert not first.is_final
    await stream.finalize()
    final = await next_result(stream)
    assert final.is_final and final.speech_final and final.text == first.text
    assert len(stub.decoded) == 1
    await stream.aclose()


class RecordingWhisper(StubWhisper):
    """Also keeps every ticket, to read the priority each decode was queued with."""

    def __init__(self) -> None:
        super().__init__()
        self.tickets: list[Ticket[Clip, Recognition]] = []

    def submit(
        self, owner: Hashable, pcm: PCM16, rate: int, priority: Priority, barge_in: bool = False
    ) -> Ticket[Clip, Recognition]:
        ticket = super().submit(owner, pcm, rate, priority, barge_in)
        self.tickets.append(ticket)
        return ticket


async def feed_settled(stream: WhisperStream, pcm: PCM16) -> None:
    """Frame by frame, each decode finished before the next frame: no partial is skipped as busy."""
    for frame in frames(pcm):
        await stream.send(frame)
        for _ in range(500):
            if not stream._partial_busy:
                break
            await asyncio.sleep(0.002)


async def test_while_urgent_the_first_partial_comes_at_200_ms_of_voice_and_jumps_the_queue() -> None:
    calm, hurried = RecordingWhisper(), RecordingWhisper()
    calm.release.clear()
    hurried.release.clear()  # the first decode stays in flight: what was asked for, and when, is all we see
    calm_stream, hurried_stream = open_stream(calm), open_stream(hurried)
    hurried_stream.set_urgent(True)
    await feed(calm_stream, voiced_signal(180, 240))
    await feed(hurried_stream, voiced_signal(180, 240))
    await asyncio.sleep(0.05)
    assert calm.tickets == []  # 300 ms of voice before the first partial otherwise
    assert len(hurried.tickets) == 1
    assert len(hurried.tickets[0].payload.pcm) == 8 * 200
    assert hurried.tickets[0].priority is Priority.URGENT and hurried.tickets[0].payload.barge_in
    calm.release.set()
    hurried.release.set()
    await calm_stream.aclose()
    await hurried_stream.aclose()


async def test_urgent_partials_follow_every_150_ms_and_stop_when_the_hold_ends() -> None:
    stub = RecordingWhisper()
    stream = open_stream(stub)
    stream.set_urgent(True)
    await feed_settled(stream, voiced_signal(180, 800))
    urgent = [len(t.payload.pcm) for t in stub.tickets]
    # 200 ms, then every 150 ms rounded up to whole 20 ms frames (the stub is instant: none is skipped).
    assert urgent == [8 * ms for ms in (200, 360, 520, 680)]
    assert all(t.priority is Priority.URGENT for t in stub.tickets)
    stream.set_urgent(False)
    await feed_settled(stream, voiced_signal(180, 600))
    later = stub.tickets[len(urgent):]
    assert [len(t.payload.pcm) for t in later] == [8 * ms for ms in (980, 1280)]  # back to every 300 ms
    assert all(t.priority is Priority.LATER and not t.payload.barge_in for t in later)
    await stream.aclose()


async def test_an_interim_decode_already_queued_is_promoted_when_the_hold_opens() -> None:
    stub = RecordingWhisper()
    stub.release.clear()
    stream = open_stream(stub)
    await feed(stream, voiced_signal(180, 320))
    await asyncio.sleep(0.05)
    assert [t.priority for t in stub.tickets] == [Priority.LATER]
    stream.set_urgent(True)
    assert stub.tickets[0].priority is Priority.URGENT  # its words are the first the hold will get
    stub.release.set()
    await stream.aclose()


async def test_a_barge_in_partial_is_never_reused_as_the_final() -> None:
    """Its words were decoded with the barge-in prompt: the turn's own final is decoded afresh."""
    stub = RecordingWhisper()
    stream = open_stream(stub, interval_ms=10_000)
    stream.set_urgent(True)
    await feed_settled(stream, voiced_signal(180, 600))
    await feed_settled(stream, silence(60))
    stream.set_urgent(False)
    await stream.finalize()
    result = await next_result(stream)
    while not result.is_final:
        result = await next_result(stream)
    assert stub.tickets[-1].payload.barge_in is False and stub.tickets[-1].priority is Priority.URGENT
    assert all(t.payload.barge_in for t in stub.tickets[:-1])
    assert result.text == f"heard {len(stub.tickets[-1].payload.pcm)} samples"
    await stream.aclose()
