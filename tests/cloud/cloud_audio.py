"""Caller audio for the cloud tests: 20 ms μ-law frames of a loud tone ("speech") or digital silence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw, silence_ulaw, ulaw_to_pcm
from sdr_agent.engines.base import AudioFrame, STTStream, Transcript

FRAME_MS = 20


def speech(ms: float) -> list[AudioFrame]:
    t = np.arange(160) / 8000.0
    ulaw = pcm_to_ulaw((8000 * np.sin(2 * np.pi * 200.0 * t)).astype(np.int16))
    return [AudioFrame(ulaw=ulaw, pcm=ulaw_to_pcm(ulaw)) for _ in range(int(ms // FRAME_MS))]


def silence(ms: float) -> list[AudioFrame]:
    ulaw = silence_ulaw(160)
    return [AudioFrame(ulaw=ulaw, pcm=ulaw_to_pcm(ulaw)) for _ in range(int(ms // FRAME_MS))]


async def send_all(stream: STTStream, frames: list[AudioFrame], pace_s: float = 0.0) -> None:
    for frame in frames:
        await stream.send(frame)
        await asyncio.sleep(pace_s)


class Collector:
    """Reads a stream's results in the background; ``finals`` are the utterance finals."""

    def __init__(self, stream: STTStream) -> None:
        self.items: list[Transcript] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._read(stream.results()))

    async def _read(self, results: AsyncIterator[Transcript]) -> None:
        try:
            async for item in results:
                self.items.append(item)
        except Exception as exc:
            self.error = exc

    @property
    def finals(self) -> list[Transcript]:
        return [t for t in self.items if t.speech_final]

    async def wait_finals(self, count: int, timeout: float = 5.0) -> list[Transcript]:
        async with asyncio.timeout(timeout):
            while len(self.finals) < count:
                if self._task.done():
                    break
                await asyncio.sleep(0.01)
        return self.finals

    async def wait_done(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)


async def eventually(condition: object, timeout: float = 3.0) -> None:
    """Wait until ``condition()`` is true (for things a stand-in records asynchronously)."""
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
