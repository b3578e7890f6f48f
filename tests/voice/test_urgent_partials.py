"""The listener tells a recogniser that can hurry (``set_urgent``) when a barge-in hold opens and closes,
once per change, and works the same with one that cannot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.engines.base import PCM16, AudioFrame, Transcript
from sdr_agent.voice.config import SessionConfig
from sdr_agent.voice.listener import CallerListener
from sdr_agent.voice.stats import CallStats


class PlainStream:
    def __init__(self) -> None:
        self.frames = 0
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()

    async def send(self, frame: AudioFrame) -> None:
        self.frames += 1

    async def finalize(self) -> None:
        self._queue.put_nowait(Transcript(text="", is_final=True, speech_final=True))

    async def clear(self) -> None:
        return None

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def aclose(self) -> None:
        self._queue.put_nowait(None)


class HurryingStream(PlainStream):
    def __init__(self) -> None:
        super().__init__()
        self.urgent_calls: list[bool] = []

    def set_urgent(self, urgent: bool) -> None:
        self.urgent_calls.append(urgent)


class OneStreamSTT:
    name = "one-stream"

    def __init__(self, stream: PlainStream) -> None:
        self.stream = stream

    async def open_stream(self) -> PlainStream:
        return self.stream

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        return ""


async def run_listener(stream: PlainStream, holding: list[bool]) -> None:
    listener = CallerListener(OneStreamSTT(stream), SessionConfig(), CallStats(), on_turn_end=lambda _t: None,
                              on_words=lambda _u: None)
    await listener.open()
    pcm: PCM16 = (3000 * np.sin(2 * np.pi * 200.0 * np.arange(160) / 8000.0)).astype(np.int16)
    frame = AudioFrame(ulaw=pcm_to_ulaw(pcm), pcm=pcm)
    now = 100.0
    for hold in holding:
        await listener.process(frame, 1.0, 3000.0, now, holding=hold)
        now += 0.02
    await listener.aclose()


async def test_the_stream_hurries_while_a_hold_is_open_and_is_told_once_per_change() -> None:
    stream = HurryingStream()
    await run_listener(stream, [False] * 3 + [True] * 10 + [False] * 5 + [True] * 2)
    assert stream.urgent_calls == [True, False, True]


async def test_a_recogniser_that_cannot_hurry_still_gets_every_frame() -> None:
    stream = PlainStream()
    await run_listener(stream, [False] * 3 + [True] * 10 + [False] * 5)
    assert stream.frames > 0
