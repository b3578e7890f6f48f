"""Fallback over speech-to-text engines.

Every call gets a ``FallbackSTTStream`` that forwards audio to the active engine's stream and keeps the
audio of the caller's current utterance (since the last final). When the active stream fails — it cannot
be opened, ``send`` or ``results`` raise, its results end on their own (disconnect), or ``finalize`` brings
no final within ``first_result_timeout_s`` — the stream opens the next engine, replays the utterance audio
into it, and (if a finalize was pending) finalizes there, so the caller's words are not lost within the
turn. After a final, if a preferred engine has recovered (background probe), the stream moves back to it.
The last engine is never timed out; if it also fails, ``results`` raises ``EngineError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from sdr_agent.engines.base import (
    PCM16,
    AudioFrame,
    EngineError,
    SpeechToText,
    STTStream,
    Transcript,
    drain_transcripts,
)
from sdr_agent.engines.fallback.adapter import FallbackAdapter
from sdr_agent.engines.fallback.roster import SwitchListener, describe_failure

log = logging.getLogger(__name__)

TURN_BUFFER_FRAMES = 1500  # 30 s of 20 ms frames: a longer utterance replays only its end
LAST_RESORT_FINAL_WAIT_S = 15.0
CLOSE_OLD_STREAM_S = 2.0


async def probe_recognizer(engine: SpeechToText) -> None:
    probe = getattr(engine, "probe", None)
    if probe is not None:
        await probe()
        return
    stream = await engine.open_stream()
    await stream.aclose()


class FallbackSTT(FallbackAdapter[SpeechToText]):
    def __init__(
        self,
        engines: list[SpeechToText],
        *,
        first_result_timeout_s: float = 2.0,
        on_switch: SwitchListener | None = None,
        probe_interval_s: float = 10.0,
    ) -> None:
        super().__init__(
            "stt",
            engines,
            probe=probe_recognizer,
            first_result_timeout_s=first_result_timeout_s,
            on_switch=on_switch,
            probe_interval_s=probe_interval_s,
        )

    async def warm_up(self) -> None:
        await self.roster.warm_up_all()

    async def open_stream(self) -> FallbackSTTStream:
        stream = FallbackSTTStream(self)
        await stream.start()
        return stream

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        candidates = self.roster.candidates()
        for position, index in enumerate(candidates):
            try:
                return await self.roster.engines[index].transcribe(pcm, sample_rate)
            except Exception as exc:
                reason = describe_failure(exc)
                all_failed = f"every speech-to-text engine failed: {reason}"
                self.roster.move_past(candidates, position, reason, cause=exc, all_failed=all_failed)
        raise EngineError("no speech-to-text engine")  # unreachable: candidates is never empty

    async def open_on(self, candidates: list[int], failed: int | None, reason: str) -> tuple[int, STTStream]:
        """Open a stream on the first candidate that works, reporting each move."""
        roster = self.roster
        previous, why = failed, reason
        for position, index in enumerate(candidates):
            if previous is not None:
                roster.report(previous, index, why)
            budget = None if roster.is_last(index) or position == len(candidates) - 1 else self.budget_s
            try:
                async with asyncio.timeout(budget):
                    return index, await roster.engines[index].open_stream()
            except Exception as exc:
                roster.mark_failed(index)
                previous, why = index, f"open failed: {describe_failure(exc)}"
        raise EngineError(f"no speech-to-text engine could open a stream ({why})")


class FallbackSTTStream:
    def __init__(self, owner: FallbackSTT) -> None:
        self._owner = owner
        self._roster = owner.roster
        self._out: asyncio.Queue[Transcript | EngineError | None] = asyncio.Queue()
        self._turn: deque[AudioFrame] = deque(maxlen=TURN_BUFFER_FRAMES)
        self._pending: list[AudioFrame] = []  # audio that arrived while switching
        self._inner: STTStream | None = None
        self._index = 0
        self._lock = asyncio.Lock()
        self._progress = asyncio.Event()  # set on every final, switch and failure
        self._finals = 0
        self._failure: EngineError | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def engine_name(self) -> str:
        return self._roster.name(self._index)

    async def start(self) -> None:
        index, inner = await self._owner.open_on(self._roster.candidates(), None, "")
        await self._install(index, inner, replay=[])

    # ------------------------------------------------------------ STTStream
    async def send(self, frame: AudioFrame) -> None:
        if self._failure is not None:
            raise self._failure
        self._turn.append(frame)
        inner, index = self._inner, self._index
        if inner is None:
            self._pending.append(frame)
            return
        try:
            await inner.send(frame)
        except Exception as exc:
            self._spawn(self._switch_away(index, f"send failed: {describe_failure(exc)}"))

    async def finalize(self) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            if self._closed:
                return
            inner, index = self._inner, self._index
            if inner is None:
                await self._wait_progress()
                continue
            before = self._finals
            last = self._roster.is_last(index)
            try:
                async with asyncio.timeout(None if last else self._owner.budget_s):
                    await inner.finalize()
                    await self._wait_final(before, index)
                return
            except _Switched:
                continue
            except Exception as exc:
                if last:
                    error = EngineError(f"the last speech-to-text engine failed: {describe_failure(exc)}")
                    self._fail(error)
                    raise error from exc
                if isinstance(exc, TimeoutError):
                    reason = f"no final within {self._owner.budget_s:.1f}s"
                else:
                    reason = f"finalize failed: {describe_failure(exc)}"
                await self._switch_away(index, reason)

    async def clear(self) -> None:
        self._turn.clear()
        self._pending.clear()
        if self._inner is not None:
            try:
                await self._inner.clear()
            except Exception:
                # The next finalize finds out whether the engine is gone; a stale buffer is all this costs.
                log.warning("clearing the STT stream failed", exc_info=True)

    def results(self) -> AsyncIterator[Transcript]:
        return drain_transcripts(self._out)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._progress.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inner is not None:
            try:
                await self._inner.aclose()
            except Exception:
                log.debug("closing the STT stream at the end of the call failed", exc_info=True)
        self._out.put_nowait(None)

    # ------------------------------------------------------------ switching
    async def _install(
        self, index: int, inner: STTStream, replay: list[AudioFrame], *, start_pump: bool = True
    ) -> None:
        for frame in replay:
            await inner.send(frame)
        while self._pending:
            batch, self._pending = self._pending, []
            for frame in batch:
                await inner.send(frame)
        self._inner, self._index = inner, index
        if start_pump:
            self._spawn(self._pump(index, inner))
        self._progress.set()

    async def _switch_away(self, failed: int, reason: str) -> None:
        async with self._lock:
            if self._closed or self._failure is not None or self._index != failed or self._inner is None:
                return  # somebody already moved on
            old = self._inner
            self._inner = None
            self._pending.clear()
            replay = list(self._turn)
            self._roster.mark_failed(failed)
            self._spawn(_close_quietly(old))
            try:
                candidates = self._roster.candidates(excluding=failed)
                index, inner = await self._owner.open_on(candidates, failed, reason)
                await self._install(index, inner, replay)
            except Exception as exc:
                why = describe_failure(exc)
                self._fail(EngineError(f"speech-to-text failed and no fallback worked: {why}"))

    async def _switch_back(self) -> None:
        async with self._lock:
            preferred = self._roster.candidates()[0]
            old, old_index = self._inner, self._index
            if self._closed or old is None or preferred >= old_index:
                return
            self._inner = None
            self._pending.clear()
            replay = list(self._turn)
            try:
                async with asyncio.timeout(self._owner.budget_s):
                    inner = await self._roster.engines[preferred].open_stream()
            except Exception:
                log.warning("the preferred STT engine did not reopen; staying on the fallback", exc_info=True)
                self._roster.mark_failed(preferred)
                # Stay where we are (its pump still runs) and hand over what arrived meanwhile.
                await self._install(old_index, old, replay=[], start_pump=False)
                return
            self._roster.report(old_index, preferred, "recovered")
            self._spawn(_close_quietly(old))
            await self._install(preferred, inner, replay)

    async def _pump(self, index: int, inner: STTStream) -> None:
        try:
            async for transcript in inner.results():
                if self._closed or index != self._index:
                    return
                self._out.put_nowait(transcript)
                if transcript.speech_final:
                    self._turn.clear()
                    self._finals += 1
                    self._progress.set()
                    if self._roster.candidates()[0] < index:
                        self._spawn(self._switch_back())
            reason = "results ended (disconnect)"
        except Exception as exc:
            reason = describe_failure(exc)
        if not self._closed and index == self._index and self._inner is inner:
            await self._switch_away(index, reason)

    async def _wait_final(self, before: int, index: int) -> None:
        while self._finals <= before:
            if self._failure is not None:
                raise self._failure
            if self._index != index or self._inner is None:
                raise _Switched
            await self._wait_progress()

    async def _wait_progress(self) -> None:
        self._progress.clear()
        await self._progress.wait()

    def _fail(self, error: EngineError) -> None:
        if self._failure is None:
            self._failure = error
            self._out.put_nowait(error)
            self._progress.set()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Switched(Exception):
    """The active engine changed while finalize waited; finalize again on the new one."""


async def _close_quietly(stream: STTStream) -> None:
    """Close a stream the call moved away from, within CLOSE_OLD_STREAM_S; a failure is logged, not raised."""
    try:
        async with asyncio.timeout(CLOSE_OLD_STREAM_S):
            await stream.aclose()
    except Exception:
        log.debug("closing the abandoned STT stream failed", exc_info=True)
