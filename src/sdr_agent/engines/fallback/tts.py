"""Fallback over text-to-speech engines.

No first audio within ``first_result_timeout_s``, an error or a dropped socket moves the sentence to the next
engine. A failure mid-sentence restarts the whole sentence on the next engine (audio cannot be mapped back to
words, and a restarted sentence is better than a truncated one). A ``voice`` names a voice of the preferred
engine, so fallbacks speak in their default voice. The last engine is never timed out.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from sdr_agent.engines.base import SynthesizedAudio, TextToSpeech
from sdr_agent.engines.fallback.adapter import FallbackAdapter, first_within
from sdr_agent.engines.fallback.roster import SwitchListener


async def probe_speech_engine(engine: TextToSpeech) -> None:
    probe = getattr(engine, "probe", None)
    await (probe() if probe is not None else engine.warm_up())


class FallbackTTS(FallbackAdapter[TextToSpeech]):
    def __init__(
        self,
        engines: list[TextToSpeech],
        *,
        first_result_timeout_s: float = 2.0,
        on_switch: SwitchListener | None = None,
        probe_interval_s: float = 10.0,
    ) -> None:
        super().__init__(
            "tts",
            engines,
            probe=probe_speech_engine,
            first_result_timeout_s=first_result_timeout_s,
            on_switch=on_switch,
            probe_interval_s=probe_interval_s,
        )

    async def warm_up(self) -> None:
        await self.roster.warm_up_all()

    def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        def attempt(index: int, budget: float | None) -> AsyncGenerator[SynthesizedAudio, None]:
            chunks = self.roster.engines[index].synthesize(text, voice if index == 0 else None)
            return first_within(chunks, budget)

        return self.fail_over(
            attempt,
            timeout_reason=f"no audio within {self.budget_s:.1f}s",
            all_failed="every text-to-speech engine failed",
        )
