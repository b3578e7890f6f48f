"""CallerListener against an engine with its own endpointing (like Deepgram): a final that arrives before
the listener's ``finalize()`` must not resolve the utterance early, nor be overwritten by the final that
``finalize()`` brings, nor shift later finals onto the wrong utterance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.engines.base import PCM16, AudioFrame, Transcript
from sdr_agent.voice.caller_turn import CallerTurn, Utterance
from sdr_agent.voice.config import SessionConfig
from sdr_agent.voice.listener import CallerListener
from sdr_agent.voice.stats import CallStats

FRAME_S = 0.02


class EndpointingStream:
    """Emits what the test pushes (an engine's own endpoint finals); ``finalize()`` answers with the next
    scripted text as exactly one final."""

    def __init__(self, finalize_texts: list[str]) -> None:
        self.finalize_texts = finalize_texts
        self.finalizes = 0
        self.frames = 0
        self._queue: asyncio.Queue[Transcript | None] = asyncio.Queue()

    def push(self, text: str, *, speech_final: bool) -> None:
        self._queue.put_nowait(Transcript(text=text, is_final=speech_final, speech_final=speech_final))

    async def send(self, frame: AudioFrame) -> None:
        self.frames += 1

    async def finalize(self) -> None:
        text = self.finalize_texts[self.finalizes] if self.finalizes < len(self.finalize_texts) else ""
        self.finalizes += 1
        self.push(text, speech_final=True)

    async def clear(self) -> None:
        return None

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self._queue.get()) is not None:
            yield item

    async def aclose(self) -> None:
        self._queue.put_nowait(None)


class EndpointingSTT:
    name = "endpointing"

    def __init__(self, stream: EndpointingStream) -> None:
        self.stream = stream

    async def open_stream(self) -> EndpointingStream:
        return self.stream

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        return ""


class Caller:
    """Drives the listener frame by frame on a virtual clock, as the session's audio loop does."""

    def __init__(self, finalize_texts: list[str]) -> None:
        self.stream = EndpointingStream(finalize_texts)
        self.turns: list[CallerTurn] = []
        self.words: list[str] = []
        self.now = 100.0
        self.listener = CallerListener(
            EndpointingSTT(self.stream), SessionConfig(), CallStats(),
            on_turn_end=self.turns.append, on_words=lambda u: self.words.append(u.text),
        )
        pcm: PCM16 = (3000 * np.sin(2 * np.pi * 200.0 * np.arange(160) / 8000.0)).astype(np.int16)
        self._frame = AudioFrame(ulaw=pcm_to_ulaw(pcm), pcm=pcm)

    async def frames(self, seconds: float, *, speech: bool) -> None:
        for _ in range(round(seconds / FRAME_S)):
            prob, energy = (1.0, 3000.0) if speech else (0.0, 0.0)
            await self.listener.process(self._frame, prob, energy, self.now, holding=False)
            self.now += FRAME_S
            await asyncio.sleep(0)  # let the results task take what the engine emitted

    async def settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)


async def test_an_endpoint_final_before_finalize_keeps_its_words() -> None:
    """The cloud-call bug: Deepgram's endpoint closed the line, then ``finalize()`` brought an empty final
    that overwrote it, so the caller's turn was empty and the agent asked "are you still there?"."""
    caller = Caller(finalize_texts=[""])
    await caller.listener.open()
    await caller.frames(1.0, speech=True)
    caller.stream.push("Can we book a meeting on Tuesday at 3 pm?", speech_final=True)  # endpoint
    await caller.settle()
    utterance = caller.listener.utterance
    assert utterance is not None and not utterance.done.is_set(), "an endpoint final must not resolve early"
    assert utterance.text == "Can we book a meeting on Tuesday at 3 pm?"
    await caller.frames(1.0, speech=False)  # finalize after 200 ms, the turn ends after 500 ms
    await caller.listener.aclose()

    assert caller.stream.finalizes == 1
    assert len(caller.turns) == 1
    assert await caller.turns[0].text(timeout=0.5) == "Can we book a meeting on Tuesday at 3 pm?"


async def test_endpoint_finals_and_the_finalize_final_join_in_order() -> None:
    caller = Caller(finalize_texts=["at 3 pm?"])
    await caller.listener.open()
    await caller.frames(0.6, speech=True)
    caller.stream.push("Can we book a meeting", speech_final=True)
    await caller.frames(0.2, speech=True)
    caller.stream.push("on", speech_final=False)
    await caller.settle()
    assert caller.words[-1] == "Can we book a meeting on"  # partials keep the endpointed words
    caller.stream.push("on Tuesday", speech_final=True)
    await caller.frames(0.4, speech=True)
    await caller.frames(1.0, speech=False)
    await caller.listener.aclose()

    assert await caller.turns[0].text(timeout=0.5) == "Can we book a meeting on Tuesday at 3 pm?"


async def test_finals_stay_with_their_utterances_across_turns() -> None:
    """Each finalize answers for its own utterance even when endpoint finals came in between."""
    caller = Caller(finalize_texts=["", "Yes, please book it.", ""])
    await caller.listener.open()
    lines = ["How much does the Team plan cost?", None, "Great, thank you, goodbye."]
    for endpoint_text in lines:
        await caller.frames(0.8, speech=True)
        if endpoint_text is not None:
            caller.stream.push(endpoint_text, speech_final=True)
        await caller.frames(1.0, speech=False)
    await caller.listener.aclose()

    texts = [await turn.text(timeout=0.5) for turn in caller.turns]
    assert texts == [lines[0], "Yes, please book it.", lines[2]]
    assert caller.stream.finalizes == 3


async def test_a_final_no_utterance_waits_for_does_not_resolve_the_next_one() -> None:
    caller = Caller(finalize_texts=["Hi, this is Jordan."])
    await caller.listener.open()
    caller.stream.push("stray words", speech_final=True)  # between utterances: nobody asked for it
    await caller.settle()
    await caller.frames(0.6, speech=True)
    utterance: Utterance | None = caller.listener.utterance
    assert utterance is not None and not utterance.done.is_set() and utterance.text == ""
    await caller.frames(1.0, speech=False)
    await caller.listener.aclose()

    assert await caller.turns[0].text(timeout=0.5) == "Hi, this is Jordan."
