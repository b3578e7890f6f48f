"""Barge-in while the agent is audible: stop sending at the caller's speech onset, then let the first
recognised words decide — a real interruption sends ``clear`` and ends the agent turn with only what the
caller heard; a backchannel, the agent's own echo or a short sound lets it carry on with the same sentence
(no ``clear``, so at most a short pause)."""

from __future__ import annotations

from collections.abc import Callable

from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.backchannel import BackchannelClassifier, WordsVerdict
from sdr_agent.voice.bargein import BargeInDetector, BargeInEvent
from sdr_agent.voice.caller_turn import Utterance
from sdr_agent.voice.config import SessionConfig
from sdr_agent.voice.listener import CallerListener
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.recorder import CallRecorder
from sdr_agent.voice.stats import CallStats

MAX_ONSET_LOOKBACK_MS = 200.0


class Hold:
    """The agent stopped sending because the caller started talking; waiting for words to decide."""

    def __init__(self, onset_at: float, paused_at: float, audible_until: float) -> None:
        self.onset_at = onset_at
        self.paused_at = paused_at
        self.audible_until = audible_until  # the paced lead already at Twilio still plays until then
        self.confirmed = False  # energy + VAD sustained for the seed's minimum duration
        self.utterance: Utterance | None = None


class InterruptionController:
    def __init__(
        self,
        *,
        player: PacedPlayer,
        listener: CallerListener,
        recorder: CallRecorder,
        stats: CallStats,
        config: SessionConfig,
        clock: Callable[[], float],
        on_interrupted: Callable[[AgentTurn, float], None],
    ) -> None:
        self._player = player
        self._listener = listener
        self._recorder = recorder
        self._stats = stats
        self._config = config
        self._clock = clock
        self._on_interrupted = on_interrupted
        self.detector = BargeInDetector(config.bargein)
        self.classifier = BackchannelClassifier(config.backchannels)
        self.hold: Hold | None = None

    def new_agent_turn(self) -> None:
        self.detector.reset()

    def bind_utterance(self, turn: AgentTurn | None, utterance: Utterance | None, now: float) -> None:
        if utterance is not None and self._agent_speaking(turn, now):
            utterance.over_agent = True
        if self.hold is not None and _replaceable(self.hold.utterance):
            self.hold.utterance = utterance

    def _agent_speaking(self, turn: AgentTurn | None, now: float) -> bool:
        if turn is None or turn.closed or not turn.interruptible or not self._config.interrupt_enabled:
            return False
        return self.hold is not None or self._player.audible(now) or turn.producing

    async def on_frame(
        self, turn: AgentTurn | None, energy: float, prob: float, frame_start_ms: float, audio_ms: float,
        now: float,
    ) -> None:
        event = self.detector.process(energy, prob, frame_start_ms)
        if not self._agent_speaking(turn, now) or turn is None:
            if self._player.paused and self.hold is None:
                self._player.resume()
            return
        utterance = self._listener.utterance
        if utterance is not None and utterance.discarded:
            return  # still the backchannel we already let pass
        if event is BargeInEvent.CANDIDATE and self.hold is None:
            onset_ms = self.detector.onset_ms if self.detector.onset_ms is not None else frame_start_ms
            # On a noisy line the energy run may have begun long before this voice did.
            onset_ms = max(onset_ms, frame_start_ms - MAX_ONSET_LOOKBACK_MS)
            onset_at = now - (audio_ms - onset_ms) / 1000.0
            self._player.pause()
            audible_until = max(now, self._player.playout_end)
            self.hold = Hold(onset_at=onset_at, paused_at=now, audible_until=audible_until)
            self.hold.utterance = utterance
            self._stats.bargein_holds += 1
        elif event is BargeInEvent.CONFIRMED and self.hold is not None:
            self.hold.confirmed = True
            if self._config.bargein.mode != "layered":
                await self._interrupt(turn, self.hold, now)  # single-layer detectors cut at once

    async def on_words(self, turn: AgentTurn | None, utterance: Utterance, now: float) -> None:
        hold = self.hold
        if hold is not None and (hold.utterance is utterance or _replaceable(hold.utterance)):
            hold.utterance = utterance
            await self._decide(turn, utterance.text, now)

    async def on_tick(self, turn: AgentTurn | None, now: float) -> None:
        hold = self.hold
        if hold is None:
            return
        if not hold.confirmed and self._listener.quiet_for(now) >= self._config.hold_quiet_resume_ms / 1000.0:
            # A click or a cough: nothing sustained, nothing said. Carry on.
            self._resume(turn, hold, counted_as=None)
        elif now - hold.onset_at >= self._config.decision_window_ms / 1000.0:
            utterance = hold.utterance
            no_words_yet = utterance is None or not utterance.text
            if no_words_yet and now - hold.onset_at < self._config.words_wait_cap_ms / 1000.0:
                # The agent is already silent for the caller, so waiting for the recogniser costs nothing
                # audible; guessing would cut the agent on every slow "uh-huh".
                return
            text = utterance.text if utterance is not None else ""
            await self._decide(turn, text, now, timed_out=True)

    async def _decide(self, turn: AgentTurn | None, text: str, now: float, timed_out: bool = False) -> None:
        hold = self.hold
        if hold is None or turn is None:
            return
        verdict = self.classifier.classify(text, agent_text=turn.spoken_text())
        if verdict is WordsVerdict.NONE and not timed_out:
            return
        if verdict is WordsVerdict.INTERRUPTION or (
            verdict is WordsVerdict.NONE and hold.confirmed and self._listener.segmenter.in_speech
        ):
            await self._interrupt(turn, hold, now)
            return
        # A backchannel or the agent's own echo is dropped; no words at all (a cough) leaves the utterance
        # alone, so anything it later turns out to say is still answered.
        self._resume(turn, hold, counted_as=None if verdict is WordsVerdict.NONE else verdict)

    def _resume(self, turn: AgentTurn | None, hold: Hold, counted_as: WordsVerdict | None) -> None:
        if turn is not None and counted_as is not None:
            if counted_as is WordsVerdict.ECHO:
                turn.echo_ignored += 1
            else:
                turn.backchannels += 1
            if self._clock() > hold.audible_until:
                turn.hiccups += 1
        self._stats.resumes += 1
        if hold.utterance is not None and counted_as is not None:
            self._listener.discard(hold.utterance)
        self.hold = None
        self.detector.reset()
        self._player.resume()

    async def _interrupt(self, turn: AgentTurn, hold: Hold, now: float) -> None:
        self.hold = None
        self._stats.interruptions += 1
        await self._player.clear()
        self._recorder.cut_agent_after(now)
        self._player.drop_pending()
        if turn.task is not None:
            turn.task.cancel()
        stopped_at = min(now, hold.audible_until)
        turn.bargein_detect_ms = round((hold.paused_at - hold.onset_at) * 1000.0, 1)
        turn.stop_latency_ms = round((stopped_at - hold.onset_at) * 1000.0, 1)
        turn.clear_latency_ms = round((now - hold.onset_at) * 1000.0, 1)
        self._on_interrupted(turn, stopped_at)


def _replaceable(utterance: Utterance | None) -> bool:
    """The hold follows the caller's words: a bound utterance that ended with no words (a noise the VAD
    took for a voice just before the caller spoke) gives way to the next one."""
    return utterance is None or (utterance.done.is_set() and not utterance.text)
