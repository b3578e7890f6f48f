"""Speaking one agent turn: dialogue events → sentences → TTS → paced player, all streaming.

The LLM stream and TTS run as two tasks joined by a queue, so the next sentence is synthesised while the
current one plays and the first one is playing while the model is still writing the rest. When the
dialogue is slow to say anything (retrieval, a slow model, a tool call), the agent says a short filler
("Sure.", pre-synthesised at call start) instead of leaving the caller in silence: a caller takes a long
silence as the end of the agent's turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from sdr_agent.dialogue.base import DialogueEvent, EndCall, SendDigits, SpeakText, ToolActivity, TransferCall
from sdr_agent.engines.base import TextToSpeech
from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.sentences import SentenceSplitter
from sdr_agent.voice.speech_out import PauseLimiter, TelephonyEncoder, dtmf_ulaw
from sdr_agent.voice.stats import CallStats

log = logging.getLogger(__name__)

_Item = str | bytes | None  # a sentence, raw μ-law (DTMF tones), or the end marker


# A breath between a filler and the next one while the answer is still coming; short, because a silence
# over ~0.25 s inside a reply already sounds like the end of the agent's turn.
HOLDING_PAUSE_S = 0.12
# (id of the TTS engine, voice, text) → μ-law: engines live as long as the process, so the ids are stable.
_FILLER_AUDIO: dict[tuple[int, str | None, str], bytes] = {}


# An answer that opens with a bare acknowledgement right after a filler would say it twice ("Sure. Sure, the
# Team plan is..." / "Sure. Great. ..."): once a filler has played, such an opening sentence is dropped.
_BARE_ACKNOWLEDGEMENT = re.compile(
    r"^\s*(?:sure|great|of course|absolutely|certainly|okay|ok|got it|good question|great question|"
    r"that's a (?:good|great) question|happy to help|no problem)\s*[.!]*\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Filler:
    text: str


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
        fillers: Sequence[str] = (),
        filler_after_ms: float = 200.0,
    ) -> None:
        self._player = player
        self._tts = tts
        self._stats = stats
        self._voice = voice
        self._fallback_line = fallback_line
        self._clock = clock
        self._fillers = list(fillers)
        self._filler_after_s = filler_after_ms / 1000.0

    async def prepare_fillers(self) -> None:
        """Synthesise the fillers once per process and voice (a cloud TTS is not paid for them per call),
        so one can start playing the moment it is needed."""
        for text in self._fillers:
            key = (id(self._tts), self._voice, text)
            if key in _FILLER_AUDIO:
                continue
            try:
                _FILLER_AUDIO[key] = await self._audio_of(text)
            except Exception:
                log.warning("could not prepare the filler %r", text, exc_info=True)

    async def _audio_of(self, text: str) -> bytes:
        encoder, pauses, out = TelephonyEncoder(), PauseLimiter(), bytearray()
        async for chunk in self._tts.synthesize(text, self._voice):
            out += pauses.feed(encoder.encode(chunk))
        return bytes(out + pauses.feed(encoder.flush()) + pauses.flush())

    async def _filler_after(self, queue: asyncio.Queue[_Item | _Filler], said: list[str]) -> None:
        """The fillers in order ("Sure." then "Let me check that for you." ...), each once the previous one
        has played and the answer is still not there: one filler and then seconds of silence would only
        move the gap (the caller takes the turn in it). Cancelled as soon as the answer's first sentence is
        queued."""
        await asyncio.sleep(self._filler_after_s)
        for text in self._fillers:
            if not queue.empty():
                return
            queue.put_nowait(_Filler(text))
            said.append(text)
            while self._player.playout_end > self._clock() or not queue.empty():
                await asyncio.sleep(0.02)
            await asyncio.sleep(HOLDING_PAUSE_S)

    async def speak(self, turn: AgentTurn, events: AsyncIterator[DialogueEvent]) -> None:
        queue: asyncio.Queue[_Item | _Filler] = asyncio.Queue()
        synth = asyncio.create_task(self._synthesize(turn, queue))
        splitter = SentenceSplitter()
        answer_started = False
        fillers_said: list[str] = []
        # Only answers to a question get a filler ("Sure." before "Nice to meet you" would be odd).
        filler = (
            asyncio.create_task(self._filler_after(queue, fillers_said))
            if self._fillers and turn.answers_question else None
        )
        try:
            async for event in events:
                if isinstance(event, SpeakText):
                    turn.mark_stage("llm_first_token", self._clock())
                    for sentence in splitter.feed(event.text):
                        if filler is not None:
                            filler.cancel()
                        if not answer_started and fillers_said and _BARE_ACKNOWLEDGEMENT.match(sentence):
                            continue
                        answer_started = True
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
            if filler is not None:
                filler.cancel()
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
        if filler is not None:
            filler.cancel()
        for sentence in splitter.flush():
            queue.put_nowait(sentence)
        queue.put_nowait(None)
        await synth

    async def _synthesize(self, turn: AgentTurn, queue: asyncio.Queue[_Item | _Filler]) -> None:
        while (item := await queue.get()) is not None:
            if isinstance(item, _Filler):
                audio = _FILLER_AUDIO.get((id(self._tts), self._voice, item.text))
                if audio is None:
                    await self._sentence(turn, item.text)
                    continue
                turn.mark_stage("filler", self._clock())
                segment = self._player.new_segment(item.text)
                turn.segments.append(segment)
                turn.texts.append(item.text)
                self._player.enqueue_audio(segment, audio)
                self._player.finish_segment(segment)
            elif isinstance(item, bytes):
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
