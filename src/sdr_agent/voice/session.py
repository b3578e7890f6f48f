"""CallSession: all per-call state of one phone call, from the first frame to the stored conversation.

Frames in → echo guard → VAD + energy → (agent audible) layered barge-in / (otherwise) caller turn
segmentation → streaming STT → dialogue → sentence splitter → TTS → paced playback with marks.
The audio loop never dies: malformed frames are counted and skipped, engine errors become a spoken
fallback line, and whatever was said is stored as it happens (the writes live in ``voice.session_io``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict
from typing import Any

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import rms
from sdr_agent.dialogue.base import DialogueEvent
from sdr_agent.engines.base import AudioFrame
from sdr_agent.engines.fallback.roster import EngineSwitch
from sdr_agent.observability.metrics import observe_turn
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.backchannel import WordsVerdict
from sdr_agent.voice.caller_turn import CallerTurn, Utterance
from sdr_agent.voice.config import SessionConfig, SessionDeps
from sdr_agent.voice.echo import EchoCanceller
from sdr_agent.voice.end_of_turn import Completeness, completeness, is_question
from sdr_agent.voice.interruption import InterruptionController
from sdr_agent.voice.listener import CallerListener
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.ports import PreparesReplies
from sdr_agent.voice.recorder import CallRecorder
from sdr_agent.voice.segmenter import SegmentEvent
from sdr_agent.voice.session_io import TurnWriter, hand_over, leave_call, write_call_audio
from sdr_agent.voice.speaker import TurnSpeaker, static_events
from sdr_agent.voice.stats import CallStats
from sdr_agent.voice.transport import MediaTransport

log = logging.getLogger(__name__)


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
        self.agent_turn: AgentTurn | None = None
        self.listener = CallerListener(
            deps.stt, config, self.stats, on_turn_end=self._on_caller_turn_end, on_words=self._on_words,
            on_deaf=self._on_deaf, turn_detector=deps.turn_detector,
        )
        self.interruptions = InterruptionController(
            player=self.player, listener=self.listener, recorder=self.recorder, stats=self.stats,
            config=config, clock=clock,
            on_interrupted=lambda turn, at: self._close_agent_turn(turn, interrupted=True, at=at),
        )
        self.speaker = TurnSpeaker(
            self.player, deps.tts, self.stats, voice=config.voice, fallback_line=deps.dialogue.fallback_line,
            clock=clock, fillers=config.fillers, filler_after_ms=config.filler_after_ms,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._turns = TurnWriter(deps)
        self._audio_ms = 0.0
        self._started_at = 0.0
        self._last_activity = 0.0
        self._last_agent_audio_end = 0.0
        self._reprompts = 0
        self._prepared = ""
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
        await self.listener.open()
        self._spawn(self.speaker.prepare_fillers(), "prepare-fillers")
        self._tasks = [
            asyncio.create_task(self._tick(), name="session-ticker"),
            asyncio.create_task(self._turns.run(), name="turn-writer"),
        ]
        opening = self.deps.dialogue.opening_line()
        if opening:
            interruptible = self.config.first_message_interruptible
            self._start_agent_turn(static_events(opening), caller_end_at=None, interruptible=interruptible)

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
        await self.listener.aclose()
        self._turns.close()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("a call task failed while the call ended")
        audio_path = write_call_audio(self.recorder, self.config.audio_dir, self.conversation_id)
        await hand_over(
            self.deps, self.stats, call_sid=self.call_sid, ended_ok=ended_ok, reason=reason,
            duration_secs=round(now - self._started_at, 2), audio_path=audio_path,
        )

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
        energy = rms(residual)
        await self.interruptions.on_frame(self.agent_turn, energy, prob, frame_start_ms, self._audio_ms, now)
        holding = self.interruptions.hold is not None
        event = await self.listener.process(frame, prob, energy, now, holding=holding)
        if event is SegmentEvent.SPEECH_START:
            self._reprompts = 0
            self.interruptions.bind_utterance(self.agent_turn, self.listener.utterance, now)
        if event in (SegmentEvent.SPEECH_START, SegmentEvent.SPEECH):
            self._last_activity = now

    def on_mark(self, name: str) -> None:
        self.player.on_mark(name)

    def on_caller_text(self, text: str) -> None:
        """A typed caller turn (a web conversation's ``user_message``): answered like a spoken one."""
        now = self.clock()
        utterance = Utterance(started_at=now, ended_at=now)
        utterance.resolve(text)
        self._last_activity = now
        self._on_caller_turn_end(CallerTurn(utterances=[utterance], last_voice_at=now))

    def record_engine_switch(self, switch: EngineSwitch) -> None:
        """A fallback adapter moved this call to another engine: keep it in the conversation metadata."""
        self.stats.engine_switches.append(asdict(switch))
        switches = list(self.stats.engine_switches)
        self._spawn(self.deps.sink.merge_metadata({"engine_switches": switches}), "record-switch")

    async def on_dtmf(self, digit: str) -> None:
        self._last_activity = self.clock()
        self._turns.save(TurnRecord(role="user", message=f"[DTMF {digit}]", time_in_call_secs=self._t(),
                                   dtmf=digit))

    # ================================================================ caller turns
    def _on_words(self, utterance: Utterance) -> None:
        if self.interruptions.wants_words(utterance):
            self._spawn(self.interruptions.on_words(self.agent_turn, utterance, self.clock()), "decide-hold")
        elif utterance.final is not None:
            self._prepare_reply()

    def _prepare_reply(self) -> None:
        """Speculation at the caller's first pause: the final is in, the turn may be over — let the dialogue
        start its lookups now. Only reads: if the caller goes on, nothing was said, stored or run."""
        turn, dialogue = self.listener.turn, self.deps.dialogue
        text = turn.settled_text() if turn is not None else None
        if not text or text == self._prepared or not isinstance(dialogue, PreparesReplies):
            return
        if completeness(text) is Completeness.INCOMPLETE:
            return  # it will not end on these words
        self._prepared = text
        try:
            dialogue.prepare(text)
        except Exception:
            log.warning("speculative reply preparation failed", exc_info=True)

    def _on_deaf(self) -> None:
        """The recogniser is gone for good: after the reply in progress, say so and end the call."""
        self._spawn(self._deaf_goodbye(), "deaf-goodbye")

    async def _deaf_goodbye(self) -> None:
        await self._turn_idle.wait()
        if not (self._finished or self._ending):
            self._say(self.deps.dialogue.fallback_line(), end_call=True)

    def _go_on_after_a_mistaken_stop(self) -> None:
        """Stopped for no turn (no words, "uh-huh", its own echo): the caller hears what they missed."""
        rest = self.agent_turn.rest_after_a_stop(self.player, self.clock()) if self.agent_turn else ""
        if rest and self._turn_idle.is_set() and not (self._finished or self._ending):
            self._start_agent_turn(static_events(rest), caller_end_at=None, interruptible=True)

    def _on_caller_turn_end(self, turn: CallerTurn) -> None:
        self._spawn(self._answer(turn, committed_at=self.clock()), "answer")

    async def _answer(self, turn: CallerTurn, committed_at: float) -> None:
        caller_end_at = turn.last_voice_at or committed_at
        text = await turn.text(timeout=self.config.final_timeout_s)
        stt_final_at = self.clock()
        if not text:  # a cough, a breath, a hum with no words
            return self._go_on_after_a_mistaken_stop() if turn.over_agent else None
        last_agent = self._last_agent_text()
        verdict = self.interruptions.classifier.classify(text, agent_text=last_agent)
        if last_agent and caller_end_at - self._last_agent_audio_end < 0.8 and verdict is WordsVerdict.ECHO:
            self.stats.echo_turns_ignored += 1
            self._go_on_after_a_mistaken_stop()
            return
        if turn.over_agent and verdict is WordsVerdict.BACKCHANNEL:
            # "uh-huh" said over the agent is listening, not a turn; "yeah" after a question is an answer.
            self.stats.backchannel_turns_ignored += 1
            self._go_on_after_a_mistaken_stop()
            return
        await self._turn_idle.wait()
        if self._finished or self._ending:
            return
        events = self.deps.dialogue.respond(text)
        annotations = self.deps.dialogue.annotate_user_turn()
        self._turns.save(TurnRecord(
            role="user", message=text, time_in_call_secs=self._t(turn.started_at), phase=annotations.phase,
            intent=annotations.intent, sentiment=annotations.sentiment, metrics=dict(annotations.extra),
        ))
        agent = self._start_agent_turn(events, caller_end_at=caller_end_at, interruptible=True)
        agent.answers_question = is_question(text)
        agent.mark_stage("vad_end", committed_at)
        agent.mark_stage("stt_final", stt_final_at)

    # ================================================================ agent turns
    def _start_agent_turn(
        self, events: AsyncIterator[DialogueEvent], *, caller_end_at: float | None, interruptible: bool
    ) -> AgentTurn:
        turn = AgentTurn(started_at=self.clock(), caller_end_at=caller_end_at, interruptible=interruptible)
        self.agent_turn = turn
        self._turn_idle.clear()
        self.interruptions.new_agent_turn()
        turn.task = asyncio.create_task(self._run_turn(turn, events), name="agent-turn")
        return turn

    async def _run_turn(self, turn: AgentTurn, events: AsyncIterator[DialogueEvent]) -> None:
        try:
            await self.speaker.speak(turn, events)
        finally:
            turn.producing = False
            self._maybe_complete(turn)

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
        if turn.closed:
            return  # heard to the end, then a barge-in decided on it late: the turn is stored once
        turn.closed = True
        turn.interrupted = interrupted
        text = turn.heard_text(self.player, at) if interrupted else turn.spoken_text()
        try:
            self.deps.dialogue.record_agent_turn(text, interrupted)
        except Exception:
            log.exception("the dialogue could not record what the agent said")
        if text or turn.tool_calls:
            self._turns.save(TurnRecord(
                role="agent", message=text, time_in_call_secs=self._t(turn.started_at),
                interrupted=interrupted,
                tool_calls=turn.tool_calls, tool_results=turn.tool_results, phase=self.deps.dialogue.phase,
                latency_ms=turn.latency_ms, bargein_detect_ms=turn.bargein_detect_ms, metrics=turn.metrics(),
            ))
        observe_turn(turn.metrics(), interrupted=interrupted)
        if turn.latency_ms is not None:
            self.stats.latencies_ms.append(turn.latency_ms)
        if turn.stop_latency_ms is not None and interrupted:
            self.stats.bargein_detect_ms.append(turn.bargein_detect_ms or 0.0)
            self.stats.stop_latency_ms.append(turn.stop_latency_ms)
        self._last_activity = self.clock()
        self._turn_idle.set()
        if not interrupted and (turn.end_call or turn.transfer):
            self._ending = True
            self._spawn(leave_call(self.deps, self.transport, turn), "leave-call")

    async def end_for_shutdown(self, line: str, wait_s: float) -> None:
        """The server is stopping (voice.lifecycle): let the reply in progress finish for up to ``wait_s``,
        else cut it as a barge-in would (clear), then say ``line`` and end the call."""
        try:
            await asyncio.wait_for(self._turn_idle.wait(), wait_s)
        except TimeoutError:
            turn = self.agent_turn
            if turn is not None and not turn.closed:
                now = self.clock()
                await self.player.clear()
                self.recorder.cut_agent_after(now)
                self.player.drop_pending()
                if turn.task is not None:
                    turn.task.cancel()
                self._close_agent_turn(turn, interrupted=True, at=now)
        if not (self._ending or self._finished):
            self._say(line, end_call=True)

    def _say(self, text: str, *, end_call: bool = False) -> None:
        events = static_events(text, end_call=end_call)
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
        await self.interruptions.on_tick(self.agent_turn, now)
        turn = self.agent_turn
        grace_over = now > self.player.playout_end + self.config.mark_grace_s
        playback_over = grace_over and not self.player.has_pending()
        if turn is not None and not turn.closed and not turn.producing and playback_over:
            # Marks never came back (lost or a client that does not echo): trust the clock.
            self.stats.mark_timeouts += 1
            self._close_agent_turn(turn, interrupted=False, at=now)
        if self._ending or self._finished:
            return
        if now - self._started_at >= self.config.max_duration_s and self._turn_idle.is_set():
            self._say(self.deps.dialogue.goodbye_line(), end_call=True)
            return
        idle = self._turn_idle.is_set() and not self.listener.busy
        if idle and now - self._last_activity >= self.config.turn_timeout_s:
            self._reprompts += 1
            if self._reprompts >= 2:
                self._say(self.deps.dialogue.goodbye_line(), end_call=True)
            else:
                self._say(self.deps.dialogue.reprompt_line())

    def _last_agent_text(self) -> str:
        return self.agent_turn.spoken_text() if self.agent_turn is not None else ""

    def _t(self, at: float | None = None) -> float:
        return round((at if at is not None else self.clock()) - self._started_at, 2)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
