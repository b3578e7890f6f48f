"""CallSession: all per-call state of one phone call, from the first frame to the stored conversation.

Frames in → echo guard → VAD + energy → (agent audible) layered barge-in / (otherwise) caller turn
segmentation → streaming STT → dialogue → sentence splitter → TTS → paced playback with marks.
The audio loop never dies: malformed frames are counted and skipped, engine errors become a spoken
fallback line, and whatever was said is stored as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import rms
from sdr_agent.dialogue.base import (
    DialogueEvent,
    EndCall,
    SendDigits,
    SpeakText,
    ToolActivity,
    TransferCall,
)
from sdr_agent.engines.base import AudioFrame, Transcript
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.backchannel import BackchannelClassifier, WordsVerdict
from sdr_agent.voice.bargein import BargeInDetector, BargeInEvent
from sdr_agent.voice.caller_turn import CallerTurn, Utterance
from sdr_agent.voice.config import SessionConfig, SessionDeps
from sdr_agent.voice.echo import EchoCanceller
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.ports import CallOutcome
from sdr_agent.voice.recorder import CallRecorder
from sdr_agent.voice.segmenter import SegmentEvent, SpeechSegmenter
from sdr_agent.voice.sentences import SentenceSplitter
from sdr_agent.voice.speech_out import TelephonyEncoder, dtmf_ulaw
from sdr_agent.voice.stats import CallStats
from sdr_agent.voice.transport import MediaTransport

log = logging.getLogger(__name__)


class _Hold:
    """The agent stopped sending because the caller started talking; waiting for words to decide."""

    def __init__(self, onset_at: float, paused_at: float, audible_until: float) -> None:
        self.onset_at = onset_at
        self.paused_at = paused_at
        self.audible_until = audible_until  # the paced lead already at Twilio still plays until then
        self.confirmed = False  # energy + VAD sustained for the seed's minimum duration
        self.utterance: Utterance | None = None


class CallSession:
    def __init__(
        self,
        *,
        conversation_id: str,
        call_sid: str,
        deps: SessionDeps,
        config: SessionConfig,
        transport: MediaTransport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conversation_id = conversation_id
        self.call_sid = call_sid
        self.deps = deps
        self.config = config
        self.transport = transport
        self.clock = clock
        self.stats = CallStats()
        self.player = PacedPlayer(
            transport,
            lead_s=config.lead_s,
            clock=clock,
            on_segment_played=self._on_segment_played,
            on_frame_sent=self._on_frame_sent,
        )
        self.echo = EchoCanceller()
        self.recorder = CallRecorder(max_seconds=config.max_duration_s + 60)
        self.bargein = BargeInDetector(config.bargein)
        self.segmenter = SpeechSegmenter()
        self.classifier = BackchannelClassifier(config.backchannels)
        self.agent_turn: AgentTurn | None = None
        self.caller_turn: CallerTurn | None = None
        self._utterance: Utterance | None = None
        self._awaiting_final: list[Utterance] = []
        self._hold: _Hold | None = None
        self._stt: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._writes: asyncio.Queue[TurnRecord | None] = asyncio.Queue()
        self._audio_ms = 0.0
        self._started_at = 0.0
        self._last_activity = 0.0
        self._last_agent_audio_end = 0.0
        self._reprompts = 0
        self._ending = False
        self._finished = False
        self._turn_idle = asyncio.Event()
        self._turn_idle.set()

    # ================================================================ lifecycle
    async def start(self) -> None:
        now = self.clock()
        self._started_at = self._last_activity = now
        self.recorder.start(now)
        self.player.start()
        self._stt = await self.deps.stt.open_stream()
        self._tasks = [
            asyncio.create_task(self._consume_stt(), name="stt-results"),
            asyncio.create_task(self._tick(), name="session-ticker"),
            asyncio.create_task(self._write_turns(), name="turn-writer"),
        ]
        opening = self.deps.dialogue.opening_line()
        if opening:
            self._start_agent_turn(
                _static(opening), caller_end_at=None, interruptible=self.config.first_message_interruptible
            )

    async def finish(self, *, ended_ok: bool, reason: str) -> None:
        """Stream stopped or socket dropped: store what was said, the audio, and hand over to analysis."""
        if self._finished:
            return
        self._finished = True
        now = self.clock()
        turn = self.agent_turn
        if turn is not None and not turn.closed:
            played_all = turn.all_played(self.player)
            self._close_agent_turn(turn, interrupted=not played_all, at=now)
        for task in [*self._tasks, *self._side_tasks]:
            if task.get_name() not in ("turn-writer", "leave-call"):
                task.cancel()
        if turn is not None and turn.task is not None:
            turn.task.cancel()
        await self.player.stop()
        if self._stt is not None:
            with contextlib.suppress(Exception):
                await self._stt.aclose()
        self._writes.put_nowait(None)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        audio_path = None
        if self.recorder.has_audio and self.config.audio_dir is not None:
            try:
                audio_path = str(self.recorder.write_wav(self.config.audio_dir / f"{self.conversation_id}.wav"))
            except OSError:
                log.exception("could not write call audio")
        outcome = CallOutcome(
            ended_ok=ended_ok,
            termination_reason=reason,
            duration_secs=round(now - self._started_at, 2),
            dialogue_state=_safe_snapshot(self.deps.dialogue),
            audio_path=audio_path,
            stats=self.stats.as_dict(),
        )
        try:
            await self.deps.sink.finish(outcome)
        except Exception:
            log.exception("finishing the conversation failed")

    # ================================================================ inbound events
    async def on_media(self, payload: bytes) -> None:
        if not payload:
            self.stats.malformed_frames += 1
            return
        now = self.clock()
        pcm = ulaw_to_pcm(payload)
        frame_start_ms = self._audio_ms
        self._audio_ms += len(pcm) / 8.0
        self.stats.frames_in += 1
        self.recorder.add_caller(pcm, now)
        residual = self.echo.process(pcm, now)
        frame = AudioFrame(ulaw=payload if residual is pcm else pcm_to_ulaw(residual), pcm=residual)
        try:
            prob = self.deps.vad.speech_probability(residual)
        except Exception:
            self.stats.engine_errors += 1
            log.exception("VAD failed on a frame")
            prob = 0.0
        await self._bargein_step(rms(residual), prob, frame_start_ms, now)
        await self._segment_step(frame, prob, now)

    def on_mark(self, name: str) -> None:
        self.player.on_mark(name)

    async def on_dtmf(self, digit: str) -> None:
        self._last_activity = self.clock()
        self._save_turn(TurnRecord(role="user", message=f"[DTMF {digit}]", time_in_call_secs=self._t(),
                                   dtmf=digit))

    # ================================================================ barge-in
    def _agent_speaking(self, now: float) -> bool:
        turn = self.agent_turn
        if turn is None or turn.closed or not turn.interruptible or not self.config.interrupt_enabled:
            return False
        return self._hold is not None or self.player.audible(now) or turn.producing

    async def _bargein_step(self, energy: float, prob: float, frame_start_ms: float, now: float) -> None:
        """Stop *sending* at a speech onset (the caller stops hearing the agent once the small paced lead
        has played); ``clear`` only once the first words show a real interruption."""
        event = self.bargein.process(energy, prob, frame_start_ms)
        if not self._agent_speaking(now):
            if self.player.paused and self._hold is None:
                self.player.resume()
            return
        if self._utterance is not None and self._utterance.discarded:
            return  # still the backchannel we already let pass
        if event is BargeInEvent.CANDIDATE and self._hold is None:
            onset_ms = self.bargein.onset_ms if self.bargein.onset_ms is not None else frame_start_ms
            onset_at = now - (self._audio_ms - onset_ms) / 1000.0
            self.player.pause()
            self._hold = _Hold(onset_at=onset_at, paused_at=now, audible_until=max(now, self.player.playout_end))
            self._hold.utterance = self._utterance
            self.stats.bargein_holds += 1
        elif event is BargeInEvent.ABORTED and self._hold is not None and not self._hold.confirmed:
            self._resume_after_hold(self._hold, counted_as=None)
        elif event is BargeInEvent.CONFIRMED and self._hold is not None:
            self._hold.confirmed = True

    async def _decide_hold(self, text: str, now: float, timed_out: bool = False) -> None:
        hold, turn = self._hold, self.agent_turn
        if hold is None or turn is None:
            return
        verdict = self.classifier.classify(text, agent_text=turn.spoken_text())
        if verdict is WordsVerdict.NONE and not timed_out:
            return
        if verdict is WordsVerdict.INTERRUPTION or (
            verdict is WordsVerdict.NONE and hold.confirmed and self.segmenter.in_speech
        ):
            await self._interrupt(turn, hold, now)
            return
        # Backchannel, the agent's own echo, or a short sound: carry on with the same sentence.
        self._resume_after_hold(hold, counted_as=verdict)

    def _resume_after_hold(self, hold: _Hold, counted_as: WordsVerdict | None) -> None:
        turn = self.agent_turn
        if turn is not None and counted_as is not None:
            if counted_as is WordsVerdict.ECHO:
                turn.echo_ignored += 1
            else:
                turn.backchannels += 1
            if self.clock() > hold.audible_until:
                turn.hiccups += 1
        self.stats.resumes += 1
        if hold.utterance is not None and counted_as is not None:
            self._discard(hold.utterance)
        self._hold = None
        self.bargein.reset()
        self.player.resume()

    async def _interrupt(self, turn: AgentTurn, hold: _Hold, now: float) -> None:
        self._hold = None
        self.stats.interruptions += 1
        await self.player.clear()
        self.recorder.cut_agent_after(now)
        self.player.drop_pending()
        if turn.task is not None:
            turn.task.cancel()
        stopped_at = min(now, hold.audible_until)
        turn.bargein_detect_ms = round((hold.paused_at - hold.onset_at) * 1000.0, 1)
        turn.stop_latency_ms = round((stopped_at - hold.onset_at) * 1000.0, 1)
        turn.clear_latency_ms = round((now - hold.onset_at) * 1000.0, 1)
        self._close_agent_turn(turn, interrupted=True, at=stopped_at)

    # ================================================================ caller turns
    async def _segment_step(self, frame: AudioFrame, prob: float, now: float) -> None:
        event = self.segmenter.process(frame, prob)
        if event is SegmentEvent.SPEECH_START:
            self._last_activity = now
            self._reprompts = 0
            self._utterance = Utterance(started_at=now)
            if self.caller_turn is None:
                self.caller_turn = CallerTurn()
            self.caller_turn.utterances.append(self._utterance)
            if self._hold is not None and self._hold.utterance is None:
                self._hold.utterance = self._utterance
            for pre in self.segmenter.take_preroll():
                await self._send_stt(pre)
            return
        if event in (SegmentEvent.SPEECH, SegmentEvent.SILENCE):
            await self._send_stt(frame)
            if event is SegmentEvent.SPEECH:
                self._last_activity = now
                return
            limit = self.config.hold_finalize_ms if self._hold is not None else self.config.speculative_ms
            if self.segmenter.silence_ms >= limit and self._utterance is not None:
                await self._end_utterance(now - self.segmenter.silence_ms / 1000.0)
            return
        turn = self.caller_turn
        if turn is not None and self._hold is None and turn.last_voice_at is not None:
            if now - turn.last_voice_at >= self.config.end_silence_ms / 1000.0:
                self.caller_turn = None
                self._spawn(self._answer(turn), "answer")

    async def _send_stt(self, frame: AudioFrame) -> None:
        try:
            await self._stt.send(frame)
        except Exception:
            self.stats.engine_errors += 1
            log.exception("STT send failed")

    async def _end_utterance(self, last_voice_at: float) -> None:
        utterance = self._utterance
        self._utterance = None
        self.segmenter.end_segment()
        if utterance is None:
            return
        utterance.ended_at = last_voice_at
        if self.caller_turn is not None and utterance in self.caller_turn.utterances:
            self.caller_turn.last_voice_at = last_voice_at
        self._awaiting_final.append(utterance)
        try:
            await self._stt.finalize()
        except Exception:
            self.stats.engine_errors += 1
            log.exception("STT finalize failed")
            utterance.resolve("")

    def _discard(self, utterance: Utterance) -> None:
        utterance.discarded = True
        turn = self.caller_turn
        if turn is not None and utterance in turn.utterances:
            turn.utterances.remove(utterance)
            if not turn.utterances:
                self.caller_turn = None

    async def _consume_stt(self) -> None:
        while True:
            try:
                async for result in self._stt.results():
                    self._on_transcript(result)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.engine_errors += 1
                log.exception("STT stream failed; reopening")
                for utterance in self._awaiting_final:
                    utterance.resolve("")
                self._awaiting_final.clear()
                await asyncio.sleep(0.2)
                with contextlib.suppress(Exception):
                    self._stt = await self.deps.stt.open_stream()

    def _on_transcript(self, result: Transcript) -> None:
        now = self.clock()
        if result.speech_final:
            target = self._awaiting_final.pop(0) if self._awaiting_final else self._utterance
            if target is None:
                return
            target.resolve(result.text)
        else:
            target = self._utterance or (self._awaiting_final[-1] if self._awaiting_final else None)
            if target is None:
                return
            target.partial = result.text
        hold = self._hold
        if hold is not None and (hold.utterance is None or hold.utterance is target):
            self._spawn(self._decide_hold(target.text, now), "decide-hold")

    async def _answer(self, turn: CallerTurn) -> None:
        caller_end_at = turn.last_voice_at or self.clock()
        text = await turn.text(timeout=self.config.final_timeout_s)
        if not text:
            return
        last_agent = self._last_agent_text()
        if last_agent and caller_end_at - self._last_agent_audio_end < 0.8:
            if self.classifier.classify(text, agent_text=last_agent) is WordsVerdict.ECHO:
                self.stats.echo_turns_ignored += 1
                return
        await self._turn_idle.wait()
        if self._finished or self._ending:
            return
        stt_final_at = self.clock()
        events = self.deps.dialogue.respond(text)
        annotations = self.deps.dialogue.annotate_user_turn()
        sentiment = annotations.sentiment
        self._save_turn(TurnRecord(
            role="user", message=text, time_in_call_secs=self._t(turn.started_at), phase=annotations.phase,
            intent=annotations.intent, sentiment=sentiment, metrics=dict(annotations.extra),
        ))
        agent = self._start_agent_turn(events, caller_end_at=caller_end_at, interruptible=True)
        agent.mark_stage("stt_final", stt_final_at)

    # ================================================================ agent turns
    def _start_agent_turn(
        self, events: AsyncIterator[DialogueEvent], *, caller_end_at: float | None, interruptible: bool
    ) -> AgentTurn:
        turn = AgentTurn(started_at=self.clock(), caller_end_at=caller_end_at, interruptible=interruptible)
        self.agent_turn = turn
        self._turn_idle.clear()
        self.bargein.reset()
        turn.task = asyncio.create_task(self._produce(turn, events), name="agent-turn")
        return turn

    async def _produce(self, turn: AgentTurn, events: AsyncIterator[DialogueEvent]) -> None:
        sentences: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        synth = asyncio.create_task(self._synthesize(turn, sentences))
        splitter = SentenceSplitter()
        try:
            async for event in events:
                if isinstance(event, SpeakText):
                    turn.mark_stage("llm_first_token", self.clock())
                    for sentence in splitter.feed(event.text):
                        sentences.put_nowait(sentence)
                elif isinstance(event, ToolActivity):
                    turn.tool_calls.append(event.tool_call)
                    if event.tool_result is not None:
                        turn.tool_results.append(event.tool_result)
                elif isinstance(event, EndCall):
                    turn.end_call = event
                elif isinstance(event, TransferCall):
                    turn.transfer = event
                elif isinstance(event, SendDigits):
                    sentences.put_nowait(dtmf_ulaw(event.digits))
        except asyncio.CancelledError:
            synth.cancel()
            raise
        except Exception:
            turn.engine_errors += 1
            self.stats.engine_errors += 1
            log.exception("dialogue failed mid-turn; saying the fallback line")
            if not turn.texts and sentences.empty():
                splitter = SentenceSplitter()
                sentences.put_nowait(self.deps.dialogue.fallback_line())
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
        for sentence in splitter.flush():
            sentences.put_nowait(sentence)
        sentences.put_nowait(None)
        try:
            await synth
        finally:
            turn.producing = False
            self._maybe_complete(turn)

    async def _synthesize(self, turn: AgentTurn, sentences: asyncio.Queue[str | bytes | None]) -> None:
        while (item := await sentences.get()) is not None:
            if isinstance(item, bytes):
                segment = self.player.new_segment("")
                turn.segments.append(segment)
                turn.texts.append("")
                self.player.enqueue_audio(segment, item)
                self.player.finish_segment(segment)
                continue
            await self._speak_sentence(turn, item)

    async def _speak_sentence(self, turn: AgentTurn, text: str) -> None:
        segment = self.player.new_segment(text)
        turn.segments.append(segment)
        turn.texts.append(text)
        encoder = TelephonyEncoder()
        try:
            async for chunk in self.deps.tts.synthesize(text, self.config.voice):
                turn.mark_stage("tts_first_audio", self.clock())
                self.player.enqueue_audio(segment, encoder.encode(chunk))
            self.player.enqueue_audio(segment, encoder.flush())
        except asyncio.CancelledError:
            raise
        except Exception:
            turn.engine_errors += 1
            self.stats.engine_errors += 1
            log.exception("TTS failed for a sentence")
            if self.player.segment(segment).total_frames == 0:
                turn.segments.pop()
                turn.texts.pop()
                return
        self.player.finish_segment(segment)

    def _on_frame_sent(self, ulaw: bytes, play_start: float) -> None:
        pcm = ulaw_to_pcm(ulaw)
        self.recorder.add_agent(pcm, play_start)
        self.echo.add_reference(pcm, play_start)
        self._last_agent_audio_end = play_start + len(pcm) / 8000.0
        turn = self.agent_turn
        if turn is not None and turn.first_audio_at is None:
            turn.first_audio_at = self.clock()
            turn.mark_stage("first_audio_sent", turn.first_audio_at)

    def _on_segment_played(self, _segment_id: int) -> None:
        if self.agent_turn is not None:
            self._maybe_complete(self.agent_turn)

    def _maybe_complete(self, turn: AgentTurn) -> None:
        if turn.closed or not turn.all_played(self.player):
            return
        self._close_agent_turn(turn, interrupted=False, at=self.clock())

    def _close_agent_turn(self, turn: AgentTurn, *, interrupted: bool, at: float) -> None:
        turn.closed = True
        turn.interrupted = interrupted
        text = turn.heard_text(self.player, at) if interrupted else turn.spoken_text()
        with contextlib.suppress(Exception):
            self.deps.dialogue.record_agent_turn(text, interrupted)
        if text or turn.tool_calls:
            self._save_turn(TurnRecord(
                role="agent", message=text, time_in_call_secs=self._t(turn.started_at), interrupted=interrupted,
                tool_calls=turn.tool_calls, tool_results=turn.tool_results, phase=self.deps.dialogue.phase,
                latency_ms=turn.latency_ms, bargein_detect_ms=turn.bargein_detect_ms, metrics=turn.metrics(),
            ))
        if turn.latency_ms is not None:
            self.stats.latencies_ms.append(turn.latency_ms)
        if turn.stop_latency_ms is not None and interrupted:
            self.stats.bargein_detect_ms.append(turn.bargein_detect_ms or 0.0)
            self.stats.stop_latency_ms.append(turn.stop_latency_ms)
        self._last_activity = self.clock()
        self._turn_idle.set()
        if not interrupted and (turn.end_call or turn.transfer):
            self._ending = True
            self._spawn(self._leave_call(turn), "leave-call")

    async def _leave_call(self, turn: AgentTurn) -> None:
        control = self.deps.control
        try:
            if turn.transfer is not None and control is not None:
                await control.transfer(turn.transfer.phone_number)
            elif control is not None:
                await control.hangup()
        except Exception:
            log.exception("call control failed while leaving the call")
        with contextlib.suppress(Exception):
            await self.transport.close(1000, "call ended by agent")

    def _say(self, text: str, *, end_call: bool = False) -> None:
        events = _static(text, end_call=end_call)
        self._start_agent_turn(events, caller_end_at=None, interruptible=not end_call)

    # ================================================================ timers and storage
    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = self.clock()
            try:
                await self._check_timers(now)
            except Exception:
                log.exception("session timer check failed")

    async def _check_timers(self, now: float) -> None:
        hold = self._hold
        if hold is not None and now - hold.onset_at >= self.config.decision_window_ms / 1000.0:
            text = hold.utterance.text if hold.utterance is not None else ""
            await self._decide_hold(text, now, timed_out=True)
        turn = self.agent_turn
        if turn is not None and not turn.closed and not turn.producing and not self.player.has_pending():
            if now > self.player.playout_end + self.config.mark_grace_s:
                # Marks never came back (lost or a client that does not echo): trust the clock.
                self.stats.mark_timeouts += 1
                self._close_agent_turn(turn, interrupted=False, at=now)
        if self._ending or self._finished:
            return
        if now - self._started_at >= self.config.max_duration_s and self._turn_idle.is_set():
            self._say(self.deps.dialogue.goodbye_line(), end_call=True)
            return
        idle = (
            self._turn_idle.is_set() and self.caller_turn is None and not self.segmenter.in_speech
            and not self._awaiting_final
        )
        if idle and now - self._last_activity >= self.config.turn_timeout_s:
            self._reprompts += 1
            if self._reprompts >= 2:
                self._say(self.deps.dialogue.goodbye_line(), end_call=True)
            else:
                self._say(self.deps.dialogue.reprompt_line())

    def _last_agent_text(self) -> str:
        turn = self.agent_turn
        return turn.spoken_text() if turn is not None else ""

    def _t(self, at: float | None = None) -> float:
        return round((at if at is not None else self.clock()) - self._started_at, 2)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _save_turn(self, record: TurnRecord) -> None:
        self._writes.put_nowait(record)

    async def _write_turns(self) -> None:
        while (record := await self._writes.get()) is not None:
            try:
                await self.deps.sink.save_turn(record)
            except Exception:
                log.exception("saving a transcript turn failed")


async def _static(text: str, *, end_call: bool = False) -> AsyncIterator[DialogueEvent]:
    yield SpeakText(text)
    if end_call:
        yield EndCall("agent ended the call")


def _safe_snapshot(dialogue: Any) -> dict[str, Any]:
    try:
        snapshot: dict[str, Any] = dialogue.state_snapshot()
        return snapshot
    except Exception:
        log.exception("dialogue state snapshot failed")
        return {}
