"""Engines that cost (almost) no CPU but answer with the delays of cloud engines, for the capacity bench:
what one server process can carry when recognition, the LLM and synthesis happen elsewhere.

- ``StandInSTT``: streaming; counts voiced audio by energy, a partial ~``partial_delay_s`` after 200 ms of
  speech, the final ``final_delay_s`` after ``finalize()`` (Deepgram answers in about that);
- the LLM is ``FakeLLM`` with a first-token delay and per-token pacing;
- the TTS is ``FakeTTS`` (a voiced signal as long as the text) after a first-audio delay.
The VAD stays the real Silero: a deployment with cloud engines still runs it locally for barge-in.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator

from sdr_agent.audio.resample import rms
from sdr_agent.engines.base import PCM16, AudioFrame, Transcript
from sdr_agent.engines.factory import EngineSet, build_vad_factory
from sdr_agent.engines.fakes import FakeLLM, FakeTTS
from sdr_agent.settings import VADSettings

CALLER_SENTENCES = (
    "How much does the Team plan cost?",
    "Does it work with Salesforce?",
    "Can you tell me more about the onboarding?",
    "What happens to our data if we cancel?",
)
AGENT_REPLY = (
    "Good question. The Team plan is forty nine dollars per user per month, and includes every integration."
)
SPEECH_RMS = 300.0
PARTIAL_AFTER_MS = 200.0
MIN_SPEECH_MS = 100.0


class StandInSTT:
    name = "standin-stt"

    def __init__(self, *, partial_delay_s: float = 0.1, final_delay_s: float = 0.15) -> None:
        self.partial_delay_s = partial_delay_s
        self.final_delay_s = final_delay_s
        self._texts: Iterator[str] = itertools.cycle(CALLER_SENTENCES)

    def next_text(self) -> str:
        return next(self._texts)

    async def open_stream(self) -> StandInSTTStream:
        return StandInSTTStream(self)

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        await asyncio.sleep(self.final_delay_s)
        return self.next_text() if len(pcm) and rms(pcm) >= SPEECH_RMS else ""


class StandInSTTStream:
    def __init__(self, engine: StandInSTT) -> None:
        self._engine = engine
        self._results: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self._speech_ms = 0.0
        self._partial_sent = False
        self._text = ""
        self._timers: set[asyncio.TimerHandle] = set()

    def _later(self, delay_s: float, item: Transcript) -> None:
        def deliver() -> None:
            self._timers.discard(handle)
            self._results.put_nowait(item)

        handle = asyncio.get_running_loop().call_later(delay_s, deliver)
        self._timers.add(handle)

    async def send(self, frame: AudioFrame) -> None:
        if rms(frame.pcm) < SPEECH_RMS:
            return
        self._speech_ms += frame.duration_ms
        if not self._partial_sent and self._speech_ms >= PARTIAL_AFTER_MS:
            self._partial_sent = True
            self._text = self._engine.next_text()
            self._later(self._engine.partial_delay_s, Transcript(self._text.split()[0], False, False, 0.9))

    async def finalize(self) -> None:
        text = (self._text or self._engine.next_text()) if self._speech_ms >= MIN_SPEECH_MS else ""
        self._later(self._engine.final_delay_s, Transcript(text, True, True, 1.0 if text else 0.0))
        self._reset()

    async def clear(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._speech_ms = 0.0
        self._partial_sent = False
        self._text = ""

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self._results.get()) is not None:
            yield item

    async def aclose(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._results.put_nowait(None)


def standin_engines(vad: VADSettings | None = None) -> EngineSet:
    return EngineSet(
        stt=StandInSTT(),
        tts=FakeTTS(delay_s=0.12, ms_per_char=60.0, chunk_ms=200.0),
        llm=FakeLLM(replies=lambda _user: AGENT_REPLY, first_token_delay_s=0.35, token_delay_s=0.02),
        vad_factory=build_vad_factory(vad or VADSettings()),
    )

