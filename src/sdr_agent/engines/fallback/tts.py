"""Fallback over text-to-speech engines.

No first audio within ``first_result_timeout_s``, an error or a dropped socket moves the sentence to the next
engine. A failure mid-sentence restarts the whole sentence on the next engine (audio cannot be mapped back to
words, and a restarted sentence is better than a truncated one). A ``voice`` names a voice of the preferred
engine, so fallbacks speak in their default voice. The last engine is never timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from sdr_agent.engines.base import EngineError, SynthesizedAudio, TextToSpeech
from sdr_agent.engines.fallback.roster import EngineRoster, EngineSwitch, SwitchListener, describe_failure


async def probe_speech_engine(engine: TextToSpeech) -> None:
    probe = getattr(engine, "probe", None)
    await (probe() if probe is not None else engine.warm_up())


class FallbackTTS:
    def __init__(
        self,
        engines: list[TextToSpeech],
        *,
        first_result_timeout_s: float = 2.0,
        on_switch: SwitchListener | None = None,
        probe_interval_s: float = 10.0,
    ) -> None:
        self.roster = EngineRoster(
            "tts",
            engines,
            probe=probe_speech_engine,
            on_switch=on_switch,
            probe_interval_s=probe_interval_s,
            probe_timeout_s=max(2 * first_result_timeout_s, 5.0),
        )
        self._budget = first_result_timeout_s
        self._last_used = 0
        self.name = "+".join(self.roster.name(i) for i in range(len(engines)))

    @property
    def switches(self) -> list[EngineSwitch]:
        return self.roster.switches

    async def aclose(self) -> None:
        await self.roster.aclose()

    async def warm_up(self) -> None:
        await self.roster.warm_up_all()

    def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        return self._synthesize(text, voice)

    async def _synthesize(self, text: str, voice: str | None) -> AsyncGenerator[SynthesizedAudio, None]:
        roster = self.roster
        candidates = roster.candidates()
        if candidates[0] != self._last_used:
            reason = "recovered" if candidates[0] < self._last_used else "unhealthy"
            roster.report(self._last_used, candidates[0], reason)
        for position, index in enumerate(candidates):
            self._last_used = index
            engine = roster.engines[index]
            budget = None if position == len(candidates) - 1 else self._budget
            chunks = engine.synthesize(text, voice if index == 0 else None)
            try:
                async with contextlib.aclosing(_first_within(chunks, budget)) as audio:
                    async for chunk in audio:
                        yield chunk
                return
            except Exception as exc:
                reason = f"no audio within {self._budget:.1f}s" if isinstance(exc, TimeoutError) else (
                    describe_failure(exc)
                )
                roster.mark_failed(index)
                if position == len(candidates) - 1:
                    raise EngineError(f"every text-to-speech engine failed; last: {reason}") from exc
                roster.report(index, candidates[position + 1], reason)


async def _first_within(
    chunks: AsyncIterator[SynthesizedAudio], budget: float | None
) -> AsyncGenerator[SynthesizedAudio, None]:
    try:
        async with asyncio.timeout(budget):
            try:
                first = await anext(chunks)
            except StopAsyncIteration:
                return
        yield first
        async for chunk in chunks:
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
