"""Speaking one agent turn: dialogue events → sentences → TTS → paced player, all streaming.

The LLM stream and TTS run as two tasks joined by a queue, so the first sentence is synthesised and
playing while the model is still writing the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from sdr_agent.dialogue.base import DialogueEvent, EndCall, SendDigits, SpeakText, ToolActivity, TransferCall
from sdr_agent.engines.base import TextToSpeech
from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.sentences import SentenceSplitter
from sdr_agent.voice.speech_out import PauseLimiter, TelephonyEncoder, dtmf_ulaw
from sdr_agent.voice.stats import CallStats

log = logging.getLogger(__name__)

_Item = str | bytes | None  # a sentence, raw μ-law (DTMF tones), or the end marker


class TurnSpeaker:
    def __init__(
        self,
        player: PacedPlayer,
        tts: TextToSpeech,
        stats: CallStats,
        *,
        voice: str | None,
        fallback_line: Callable[[], str],
        clock: Callable[[], float],
    ) -> None:
        self._player = player
        self._tts = tts
        self._stats = stats
        self._voice = voice
        self._fallback_line = fallback_line
        self._clock = clock

    async def speak(self, turn: AgentTurn, events: AsyncIterator[DialogueEvent]) -> None:
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        synth = asyncio.create_task(self._synthesize(turn, queue))
        splitter = SentenceSplitter()
        try:
            async for event in events:
                if isinstance(event, SpeakText):
                    turn.mark_stage("llm_first_token", self._clock())
                    for sentence in splitter.feed(event.text):
                        queue.put_nowait(sentence)
                elif isinstance(event, ToolActivity):
                    turn.tool_calls.append(event.tool_call)
                    if event.tool_result is not None:
                        turn.tool_results.append(event.tool_result)
                elif isinstance(event, EndCall):
                    turn.end_call = event
                elif isinstance(event, TransferCall):
                    turn.transfer = event
                elif isinstance(event, SendDigits):
                    queue.put_nowait(dtmf_ulaw(event.digits))
        except asyncio.CancelledError:
            synth.cancel()
            raise
        except Exception:
            turn.engine_errors += 1
            self._stats.engine_errors += 1
            log.exception("dialogue failed mid-turn; saying the fallback line")
            if not turn.texts and queue.empty():
                splitter = SentenceSplitter()
                queue.put_nowait(self._fallback_line())
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        for sentence in splitter.flush():
            queue.put_nowait(sentence)
        queue.put_nowait(None)
        await synth

    async def _synthesize(self, turn: AgentTurn, queue: asyncio.Queue[_Item]) -> None:
        while (item := await queue.get()) is not None:
            if isinstance(item, bytes):
                segment = self._player.new_segment("")
                turn.segments.append(segment)
                turn.texts.append("")
                self._player.enqueue_audio(segment, item)
                self._player.finish_segment(segment)
            else:
                await self._sentence(turn, item)

    async def _sentence(self, turn: AgentTurn, text: str) -> None:
        segment = self._player.new_segment(text)
        turn.segments.append(segment)
        turn.texts.append(text)
        encoder = TelephonyEncoder()
        pauses = PauseLimiter()
        try:
            async for chunk in self._tts.synthesize(text, self._voice):
                turn.mark_stage("tts_first_audio", self._clock())
                self._player.enqueue_audio(segment, pauses.feed(encoder.encode(chunk)))
            self._player.enqueue_audio(segment, pauses.feed(encoder.flush()) + pauses.flush())
        except asyncio.CancelledError:
            raise
        except Exception:
            turn.engine_errors += 1
            self._stats.engine_errors += 1
            log.exception("TTS failed for a sentence")
            if self._player.segment(segment).total_frames == 0:
                turn.segments.pop()
                turn.texts.pop()
                return
        self._player.finish_segment(segment)


async def static_events(text: str, *, end_call: bool = False) -> AsyncIterator[DialogueEvent]:
    """A fixed line (first message, re-prompt, goodbye) as a dialogue event stream."""
    yield SpeakText(text)
    if end_call:
        yield EndCall("agent ended the call")
