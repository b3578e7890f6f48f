"""The caller's side of the call: VAD segmentation → streaming STT → utterances grouped into turns.

Each VAD speech segment is one utterance; its STT final is requested early (``speculative_ms`` of
silence) so the text is ready when the turn ends (``end_silence_ms``). Utterances that resume within
the end-of-turn silence join the same caller turn. At that same moment an acoustic end-of-turn model
(``TurnDetector``, when configured) hears the turn's audio off the event loop; its verdict joins the words
in ``voice.end_of_turn.required_silence_ms``.

Finals are matched to utterances in order: each ``finalize()`` brings exactly one final, for the oldest
utterance waiting. A final that arrives while none waits is the engine's own endpointing (Deepgram's
``speech_final``) inside the utterance still being spoken: its words are kept for that utterance and
joined with the final its own ``finalize()`` brings, never resolving it early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from sdr_agent.engines.base import AudioFrame, SpeechToText, Transcript, TurnDetector
from sdr_agent.voice.caller_turn import AcousticGuess, CallerTurn, Utterance
from sdr_agent.voice.config import SessionConfig
from sdr_agent.voice.end_of_turn import TIMINGS, Eagerness, required_silence_ms
from sdr_agent.voice.segmenter import SegmentEvent, SpeechSegmenter
from sdr_agent.voice.stats import CallStats

log = logging.getLogger(__name__)


REOPEN_DELAYS_S = (0.2, 0.5, 1.0)
PROBE_PAUSE_MS = 200.0  # the pause the end-of-turn model hears


class CallerListener:
    def __init__(
        self,
        stt: SpeechToText,
        config: SessionConfig,
        stats: CallStats,
        *,
        on_turn_end: Callable[[CallerTurn], None],
        on_words: Callable[[Utterance], None],
        on_deaf: Callable[[], None] | None = None,
        turn_detector: TurnDetector | None = None,
    ) -> None:
        self._engine = stt
        self._config = config
        self._stats = stats
        self._on_turn_end = on_turn_end
        self._on_words = on_words
        self._on_deaf = on_deaf
        self._reopening = False
        self.segmenter = SpeechSegmenter()
        self.utterance: Utterance | None = None
        self.turn: CallerTurn | None = None
        self._awaiting_final: list[Utterance] = []
        self._endpointed: dict[Utterance, str] = {}  # words an engine endpoint closed before finalize
        self._stream: Any = None
        self._last_voice_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._finalize_requests: asyncio.Queue[Utterance] = asyncio.Queue()
        self._timing = config.end_of_turn or TIMINGS[Eagerness.NORMAL]
        self._detector = turn_detector
        self._probes: set[asyncio.Task[None]] = set()
        self._urgent = False  # the stream was told a barge-in hold is open

    async def open(self) -> None:
        self._stream = await self._engine.open_stream()
        self._tasks = [
            asyncio.create_task(self._consume(), name="stt-results"),
            asyncio.create_task(self._run_finalizes(), name="stt-finalize"),
        ]

    async def aclose(self) -> None:
        for probe in list(self._probes):
            probe.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("an STT task failed while the call ended")
        if self._stream is not None:
            try:
                await self._stream.aclose()
            except Exception:
                log.warning("closing the STT stream failed", exc_info=True)

    def quiet_for(self, now: float) -> float:
        """Seconds since the caller's voice was last heard (0 while they are speaking)."""
        if self.segmenter.in_speech:
            return self.segmenter.silence_ms / 1000.0
        return now - self._last_voice_at if self._last_voice_at is not None else float("inf")

    @property
    def busy(self) -> bool:
        """The caller is talking, or their last words are still being recognised or answered."""
        return self.turn is not None or self.segmenter.in_speech or bool(self._awaiting_final)

    async def process(
        self, frame: AudioFrame, prob: float, energy: float, now: float, *, holding: bool
    ) -> SegmentEvent:
        event = self.segmenter.process(frame, prob, energy)
        if holding != self._urgent:
            self._set_urgent(holding)
        if event in (SegmentEvent.SPEECH_START, SegmentEvent.SPEECH):
            self._last_voice_at = now
        if event is SegmentEvent.SPEECH_START:
            self.utterance = Utterance(started_at=now)
            new_turn = self.turn is None
            if self.turn is None:
                self.turn = CallerTurn()
            self.turn.utterances.append(self.utterance)
            for pre in self.segmenter.take_preroll():
                if new_turn:  # a turn already open has these frames: its pauses are kept as heard
                    self.turn.add_audio(pre.pcm, pre.sample_rate)
                await self._send(pre)
        elif event in (SegmentEvent.SPEECH, SegmentEvent.SILENCE):
            if self.turn is not None:
                self.turn.add_audio(frame.pcm, frame.sample_rate)
            await self._send(frame)
            limit = self._config.hold_finalize_ms if holding else self._config.speculative_ms
            if event is SegmentEvent.SILENCE and self.segmenter.silence_ms >= limit and self.utterance:
                await self._end_utterance(now - self.segmenter.silence_ms / 1000.0)
                if not holding:
                    self._probe(self.turn, self.segmenter.silence_ms)
        else:
            turn = self.turn
            if turn is not None:
                turn.add_audio(frame.pcm, frame.sample_rate)  # the model hears the pauses inside the turn
            if turn is not None and not holding and turn.last_voice_at is not None and (
                now - turn.last_voice_at >= required_silence_ms(turn, self._timing) / 1000.0
            ):
                self.turn = None
                self._on_turn_end(turn)
        return event

    def _set_urgent(self, urgent: bool) -> None:
        """A barge-in hold opened or closed: a recogniser that can (``set_urgent``, optional: not every
        engine decodes on our schedule) sends partials early and often while the agent waits for words."""
        self._urgent = urgent
        set_urgent = getattr(self._stream, "set_urgent", None)
        if callable(set_urgent):
            set_urgent(urgent)

    def _probe(self, turn: CallerTurn | None, silence_ms: float) -> None:
        """Ask the acoustic model about the pause that just began (one probe per pause, off the loop)."""
        detector = self._detector
        if detector is None or turn is None or turn.last_voice_at is None or not turn.audio:
            return
        guess = AcousticGuess(voice_at=turn.last_voice_at)
        turn.acoustic = guess
        pcm = turn.audio_pcm()
        # The model was measured with 200 ms of pause after the voice (p < 0.1 on 2 % of finished sentences;
        # 6 % with 100 ms). Asking at the utterance's end (150 ms) and lengthening the pause with the line's
        # own quiet saves 50 ms of waiting.
        missing = int(8 * (PROBE_PAUSE_MS - silence_ms))
        quiet = pcm[len(pcm) - int(8 * silence_ms):] if silence_ms > 0 else pcm[:0]
        if missing > 0 and len(quiet):
            pcm = np.concatenate([pcm, np.resize(quiet, missing)])

        async def run() -> None:
            try:
                guess.probability = await detector.complete_probability(pcm, 8000)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._stats.engine_errors += 1
                log.exception("the end-of-turn model failed; the words decide alone")
            finally:
                guess.done = True

        task = asyncio.create_task(run(), name="end-of-turn-probe")
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    def discard(self, utterance: Utterance) -> None:
        """A backchannel or echo: not part of what the caller is saying to the agent."""
        utterance.discarded = True
        turn = self.turn
        if turn is not None and utterance in turn.utterances:
            turn.utterances.remove(utterance)
            if not turn.utterances:
                self.turn = None

    def reclaim(self, utterance: Utterance) -> None:
        """A sound let pass as a backchannel turned out to say "stop": it is the caller's turn after all."""
        if self.turn is None:
            self.turn = CallerTurn()
        if utterance not in self.turn.utterances:
            self.turn.utterances.append(utterance)
            self.turn.utterances.sort(key=lambda u: u.started_at)
        if self.turn.last_voice_at is None:
            self.turn.last_voice_at = utterance.ended_at or utterance.started_at

    async def _send(self, frame: AudioFrame) -> None:
        if self._reopening:
            return  # the recogniser is being replaced; these frames are lost either way
        try:
            await self._stream.send(frame)
        except Exception:
            self._stats.engine_errors += 1
            log.exception("STT send failed")

    async def _end_utterance(self, last_voice_at: float) -> None:
        utterance, self.utterance = self.utterance, None
        self.segmenter.end_segment()
        if utterance is None:
            return
        utterance.ended_at = last_voice_at
        if self.turn is not None and utterance in self.turn.utterances:
            self.turn.last_voice_at = last_voice_at
        self._awaiting_final.append(utterance)
        # A cloud STT may take a round trip to confirm Finalize: never hold up the audio loop for it.
        self._finalize_requests.put_nowait(utterance)

    async def _run_finalizes(self) -> None:
        """Finalize requests in order, off the audio loop."""
        while True:
            utterance = await self._finalize_requests.get()
            try:
                await self._stream.finalize()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._stats.engine_errors += 1
                log.exception("STT finalize failed")
                if utterance in self._awaiting_final:
                    self._awaiting_final.remove(utterance)
                utterance.resolve(self._endpointed.pop(utterance, ""))

    async def _consume(self) -> None:
        """Transcripts until the call ends. A stream that fails *or simply ends* mid-call is replaced —
        the call must never go silently deaf; when no new stream can be opened the session is told."""
        while True:
            try:
                async for result in self._stream.results():
                    self._on_transcript(result)
                log.warning("the STT stream ended in the middle of the call; reopening")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("STT stream failed; reopening")
            self._stats.engine_errors += 1
            for utterance in self._awaiting_final:
                utterance.resolve(self._endpointed.pop(utterance, ""))
            self._awaiting_final.clear()
            self._endpointed.clear()
            if not await self._reopen():
                log.error("no STT stream could be reopened: the call cannot hear the caller")
                if self._on_deaf is not None:
                    self._on_deaf()
                return

    async def _reopen(self, delays_s: tuple[float, ...] = REOPEN_DELAYS_S) -> bool:
        self._reopening = True
        old, self._stream = self._stream, None
        try:
            if old is not None:
                try:
                    await old.aclose()
                except Exception:
                    log.warning("closing the failed STT stream failed", exc_info=True)
            for delay in delays_s:
                await asyncio.sleep(delay)
                try:
                    self._stream = await self._engine.open_stream()
                    self._urgent = False  # a new stream starts unhurried: the next frame tells it again
                    return True
                except Exception:
                    self._stats.engine_errors += 1
                    log.warning("reopening the STT stream failed", exc_info=True)
            return False
        finally:
            self._reopening = False

    def _on_transcript(self, result: Transcript) -> None:
        target: Utterance | None
        if result.speech_final and self._awaiting_final:
            target = self._awaiting_final.pop(0)
            target.resolve(_join(self._endpointed.pop(target, ""), result.text))
            self._on_words(target)
            return
        if result.speech_final:
            target = self.utterance
            if target is None:
                log.debug("dropping an STT final that no utterance waits for: %r", result.text)
                return
            self._endpointed[target] = _join(self._endpointed.get(target, ""), result.text)
            target.partial = self._endpointed[target]
        else:
            target = self.utterance or (self._awaiting_final[-1] if self._awaiting_final else None)
            if target is None:
                return
            target.partial = _join(self._endpointed.get(target, ""), result.text)
        self._on_words(target)


def _join(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part.strip())
