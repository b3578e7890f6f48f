"""Barge-in while the agent is audible, decided the way a person does it: yield audibly at once, then keep
talking through "uh-huh" and stop for a real interruption.

At the caller's speech onset (``BargeInEvent.CANDIDATE``) the agent *ducks* (``duck_db`` quieter) instead of
going silent, so a backchannel costs no pause. Then:
- a sound that ends (a pause of ``end_pause_ms``) before ``backchannel_max_ms`` is a backchannel, a cough
  or a click: back to full level — at once when nothing sustained was heard, or when its words arrive (at
  most ``words_wait_ms`` after the onset), so a short "Stop." can still be caught by its words;
- a voice still going at ``backchannel_max_ms`` with no interruption words is *presumed* a backchannel
  (people's "mm-hmm", "right, right" run 600-830 ms): back to full level at once, still listening. Still
  going at ``interrupt_ms`` it is an interruption after all: silent at once, and ``clear`` + answer once a
  voice is heard with the agent silent and its echo died down (``ECHO_TAIL_MS``);
- interruption words ("stop", "wait", "actually", "what about", ...: ``stop_phrases``) in the caller's
  words interrupt at once, whenever they arrive — during the duck, after a presumed backchannel, or after
  a short sound was let pass — because a duration rule lets "Stop." through and a long "Wait, how much
  is it?" must not wait for ``interrupt_ms``.
Why mostly words and not the sound: on phone-path audio of six caller voices, spectral centroid, zero-crossing
rate, high-band share, voicing and syllable count over the first 500 ms overlap between 600-830 ms
backchannels ("okay, okay", "mm-hmm, sure") and interruption starts (``bench/bargein_features.py``). Only
one cue is safe: ≥ 4 syllable peaks in 500 ms (running speech) silences the agent at ``backchannel_max_ms``;
it catches 7-26 % of interruption starts and 0-1 % of backchannels. Words only
ever push towards stopping: Whisper hears "mm-hmm" as "No" or "It has.", so no word keeps a hum from
counting and no unknown word makes one an interruption; recognised backchannel phrases and the agent's own
echo resume early.
The "energy" and "vad" detectors (kept for the bench comparison) pause at the onset and cut on confirmation.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.backchannel import (
    BackchannelClassifier,
    WordsVerdict,
    normalise_words,
    phrase_start,
    syllable_peaks,
)
from sdr_agent.voice.bargein import BargeInDetector, BargeInEvent
from sdr_agent.voice.caller_turn import Utterance
from sdr_agent.voice.config import SessionConfig
from sdr_agent.voice.hold import Hold, early_in_a_reply, is_short_question
from sdr_agent.voice.listener import CallerListener
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.recorder import CallRecorder
from sdr_agent.voice.stats import CallStats

MAX_ONSET_LOOKBACK_MS = 200.0
VOICE_PROB = 0.35  # the segmenter's stop threshold: below it a frame is a pause in the caller's voice
QUIET_OVER_NOISE = 2.0  # a frame within 6 dB of the line's noise floor is quiet whatever the VAD says
QUIET_MIN_RMS = 150.0
FRAME_MS = 20.0
# Syllable peaks by ``backchannel_max_ms`` that make a sound running speech, not a backchannel: in
# bench/bargein_features.py four flagged 7-26 % of interruption starts and 0-1 % of 600-830 ms backchannels.
RUNNING_SPEECH_PEAKS = 4
# A stop decided from the sound alone (length, syllables) silences the agent first and sends ``clear`` only
# when a voice is heard with the agent silent, after ECHO_TAIL_MS (what was already playing, ≤ the playout
# lead, plus the line's echo delay, ≤ 250 ms): its own echo has died down by then, a caller talks on. No
# voice by SILENT_CONFIRM_MS: the agent carries on.
ECHO_TAIL_MS = 350.0
SILENT_CONFIRM_MS = 650.0
VOICED_WHILE_SILENT_FRAMES = 3
EARLY_SILENT_MS = 300.0  # a voice this long early in a reply silences the agent (hold.EARLY_REPLY_S)


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
        self._stop_phrases = [tuple(normalise_words(p)) for p in config.stop_phrases if normalise_words(p)]
        self.hold: Hold | None = None
        self._released: Utterance | None = None  # a short sound let pass: its late words may still stop us
        self._released_onset = 0.0
        self._released_at = float("-inf")
        self._released_presumed = False
        # What was decided when, (clock time, event): the bench prints it next to each failed trial.
        self.trail: deque[tuple[float, str]] = deque(maxlen=32)

    @property
    def _layered(self) -> bool:
        return self._config.bargein.mode == "layered"

    def new_agent_turn(self) -> None:
        self.detector.reset()
        # A sound let pass over the last turn is not continued by one over this turn: the caller who said
        # "Wait" and was answered, then asks "how much is it?" over the answer, starts a new sound (merged,
        # it would count from the old onset and be presumed a backchannel at once).
        self._released = None
        self._released_at = float("-inf")

    def bind_utterance(self, turn: AgentTurn | None, utterance: Utterance | None, now: float) -> None:
        if utterance is not None and self._agent_speaking(turn, now):
            utterance.over_agent = True
        if self.hold is not None and _replaceable(self.hold.utterance):
            self.hold.utterance = utterance

    def _agent_speaking(self, turn: AgentTurn | None, now: float) -> bool:
        if turn is None or turn.closed or not turn.interruptible or not self._config.interrupt_enabled:
            return False
        return self.hold is not None or self._player.audible(now) or turn.producing

    def wants_words(self, utterance: Utterance) -> bool:
        """While deciding, and for a short sound already let pass (its late words may still say "stop")."""
        return self.hold is not None or utterance is self._released

    def is_stop(self, text: str, agent_text: str = "") -> bool:
        """Interruption words in ``text`` — unless every word of it is one the agent itself said in this
        turn: its own voice leaking back ("actually", "how much") must not stop it."""
        return bool(self.stop_words(text, agent_text))

    def stop_words(self, text: str, agent_text: str = "") -> str:
        """The interruption phrase in ``text`` that comes first ("hold on"), or "" (see ``is_stop``)."""
        words = normalise_words(text)
        if not words or (agent_text and set(words) <= set(normalise_words(agent_text))):
            return ""
        found = [(phrase_start(words, phrase), phrase) for phrase in self._stop_phrases]
        first = min(((start, phrase) for start, phrase in found if start >= 0), default=None)
        return " ".join(first[1]) if first else ""

    def _stopped_by(self, utterance: Utterance, turn: AgentTurn | None) -> bool:
        """The utterance's words say "stop": they are kept with it, because the recogniser's final decode
        of the whole utterance often drops a clipped first word ("Sorry, can I ask" → "Can I ask") and
        the agent must answer, and the transcript keep, the words that made it stop."""
        phrase = self.stop_words(utterance.text, _agent_text(turn))
        if phrase:
            utterance.stop_words = phrase
        return bool(phrase)

    async def on_frame(
        self, turn: AgentTurn | None, energy: float, prob: float, frame_start_ms: float, audio_ms: float,
        now: float,
    ) -> None:
        event = self.detector.process(energy, prob, frame_start_ms)
        if not self._agent_speaking(turn, now) or turn is None:
            if self.hold is None and (self._player.paused or self._player.ducked):
                self._player.resume()
                self._player.unduck()
            return
        hold = self.hold
        if hold is not None:
            # Quiet = the VAD hears no voice, or the frame is back near the line's noise floor (Silero keeps
            # scoring speech for ~150-250 ms after a voice stops, which would make every "mm-hmm" too long).
            floor = max(self.detector.energy.baseline * QUIET_OVER_NOISE, QUIET_MIN_RMS)
            quiet = prob < VOICE_PROB or energy < floor
            hold.quiet_ms = hold.quiet_ms + FRAME_MS if quiet else 0.0
            hold.levels_db.append(20.0 * math.log10(energy + 1.0))
            if not quiet and hold.silent_at is not None and now - hold.silent_at >= ECHO_TAIL_MS / 1000.0:
                hold.voiced_while_silent += 1  # past the echo of what was already playing: the caller
            if hold.quiet_ms >= self._config.end_pause_ms and hold.ended_at is None:
                hold.ended_at = now
            elif hold.quiet_ms == 0.0:
                hold.ended_at = None
        # A sound let pass as a backchannel that goes on ("Wait, ... how much is it?" after a comma pause)
        # gets a new hold like any onset; if it turns out to be an interruption it is answered after all.
        utterance = self._listener.utterance
        if event is BargeInEvent.CANDIDATE and hold is None:
            onset_ms = self.detector.onset_ms if self.detector.onset_ms is not None else frame_start_ms
            # On a noisy line the energy run may have begun long before this voice did.
            onset_ms = max(onset_ms, frame_start_ms - MAX_ONSET_LOOKBACK_MS)
            onset_at = now - (audio_ms - onset_ms) / 1000.0
            earlier = None
            presume_again = True
            if self._layered and now - self._released_at <= self._config.merge_gap_ms / 1000.0:
                # The caller paused briefly ("Wait, ... how much is it?"): one sound, timed from its start,
                # so two halves shorter than the interruption limit still add up to an interruption.
                onset_at, earlier = self._released_onset, self._released
                presume_again = not self._released_presumed
            if self._layered:
                self._player.duck(self._config.duck_db)
            else:
                self._player.pause()
            audible_until = max(now, self._player.playout_end)
            self.hold = Hold(onset_at=onset_at, paused_at=now, audible_until=audible_until)
            self.hold.utterance = utterance
            self.hold.earlier = earlier
            # A sound already let pass as a long backchannel that goes on after a short pause is more than
            # "mm-hmm": it stays ducked until it ends or reaches ``interrupt_ms``.
            self.hold.presume_again = presume_again
            self._stats.bargein_holds += 1
            self.trail.append((onset_at, "onset"))
            self.trail.append((now, "duck" if self._layered else "pause"))
        elif event is BargeInEvent.CONFIRMED and hold is not None:
            hold.confirmed = True
            if not self._layered:
                await self._interrupt(turn, hold, now)  # single-layer detectors cut at once
        if self.hold is not None and self._layered:
            await self.on_tick(turn, now)  # decide on the frame, not on the next 50 ms tick

    async def on_words(self, turn: AgentTurn | None, utterance: Utterance, now: float) -> None:
        hold = self.hold
        self.trail.append((now, f"words:{utterance.text!r}"))
        if hold is not None and (hold.utterance is utterance or _replaceable(hold.utterance)):
            hold.utterance = utterance
            if self._stopped_by(utterance, turn):
                await self._interrupt(turn, hold, now)
            elif self._layered:
                await self.on_tick(turn, now)
        elif (
            hold is not None and utterance is hold.earlier and turn is not None
            and self._stopped_by(utterance, turn)
        ):
            # "Sorry, ... can I ask": the first part's words ("Sorry") arrive while its continuation is held.
            await self._interrupt(turn, hold, now)
        elif (
            hold is None and utterance is self._released and turn is not None and not turn.closed
            and (self._stopped_by(utterance, turn) or self._late_question(turn, utterance))
        ):
            # "Stop." (or "Is that per user?") was let pass as a backchannel; its words arrived after the
            # agent came back to full level. Stop now and answer it.
            self._released = None
            utterance.discarded = False
            self._listener.reclaim(utterance)
            await self._interrupt(turn, Hold(utterance.started_at, now, self._player.playout_end), now)

    def _late_question(self, turn: AgentTurn, utterance: Utterance) -> bool:
        """The final words of a sound let pass are a question of the caller's own (not the agent's echo)."""
        if utterance.final is None or not is_short_question(utterance.text):
            return False
        return self.classifier.classify(utterance.text, turn.spoken_text()) is WordsVerdict.INTERRUPTION

    async def on_tick(self, turn: AgentTurn | None, now: float) -> None:
        hold = self.hold
        if hold is None or turn is None:
            return
        config = self._config
        if not self._layered:
            if not hold.confirmed and self._listener.quiet_for(now) >= config.hold_quiet_resume_ms / 1000.0:
                self._resume(turn, hold, counted_as=None)
            return
        elapsed_ms = (now - hold.onset_at) * 1000.0
        text = hold.utterance.text if hold.utterance is not None else ""
        final_words = hold.utterance is not None and hold.utterance.final is not None and bool(text)
        verdict = self.classifier.classify(text, agent_text=turn.spoken_text())
        if hold.silent_at is not None:
            # Silenced from the sound alone: a caller keeps talking (pauses between words included), the
            # agent's own echo dies down with the agent; a caller who stopped talking after a question of
            # their own ("Is there a free trial?") is answered.
            if hold.voiced_while_silent >= VOICED_WHILE_SILENT_FRAMES or (
                final_words and verdict is WordsVerdict.INTERRUPTION and is_short_question(text)
            ):
                await self._interrupt(turn, hold, now)
            elif (now - hold.silent_at) * 1000.0 >= SILENT_CONFIRM_MS:
                counted = WordsVerdict.ECHO if verdict is WordsVerdict.ECHO else WordsVerdict.BACKCHANNEL
                self._resume(turn, hold, counted_as=counted)
            return
        if hold.ended_at is not None:
            if not hold.confirmed and not text:
                self._resume(turn, hold, counted_as=None)  # a click or a cough: nothing sustained, no words
            elif verdict is WordsVerdict.INTERRUPTION and is_short_question(text):
                await self._interrupt(turn, hold, now)  # "How much?" over the agent is a question
            elif (final_words or elapsed_ms >= config.words_wait_ms or hold.silent_at is not None
                  or hold.presumed_at is not None or not hold.presume_again):
                # Already silent: every frame of waiting for words would be heard as a pause; already
                # presumed a backchannel: late stop words still reach ``on_words`` through ``_released``.
                counted = WordsVerdict.ECHO if verdict is WordsVerdict.ECHO else WordsVerdict.BACKCHANNEL
                self._resume(turn, hold, counted_as=counted)
            return
        if verdict is WordsVerdict.ECHO:
            # The words so far only repeat what the agent is saying: its own voice leaking back. Carry on
            # now instead of going silent on it (the echo would stop with the agent and start again).
            self._resume(turn, hold, counted_as=WordsVerdict.ECHO)
        elif elapsed_ms >= config.interrupt_ms:
            self._go_silent(hold, now)  # longer than people's backchannels: stop anyway
        elif early_in_a_reply(turn, hold.onset_at):
            if elapsed_ms >= EARLY_SILENT_MS:
                self._go_silent(hold, now)  # the caller going on after a pause the agent answered
        elif elapsed_ms >= config.backchannel_max_ms and hold.presumed_at is None and hold.presume_again:
            if syllable_peaks(hold.levels_db) >= RUNNING_SPEECH_PEAKS:
                self._go_silent(hold, now)  # too many syllables for "mm-hmm": running speech
                return
            # Still voiced and no stop words yet (they interrupt at once in ``on_words``): a person carries
            # on through a long "mm-hmm, sure". Back to full level now, still listening.
            hold.presumed_at = now
            self._player.unduck()
            self.trail.append((now, "presumed backchannel"))

    def _go_silent(self, hold: Hold, now: float) -> None:
        """Stop sending, without ``clear`` yet: a decision from the sound alone may be the agent's own echo
        (it fades with the agent) — only a voice that goes on while the agent is silent interrupts."""
        self._player.unduck()
        self._player.pause()
        hold.silent_at = now
        hold.audible_until = max(now, self._player.playout_end)
        self.trail.append((now, "silent"))

    def _resume(self, turn: AgentTurn, hold: Hold, counted_as: WordsVerdict | None) -> None:
        if counted_as is not None:
            if counted_as is WordsVerdict.ECHO:
                turn.echo_ignored += 1
            else:
                turn.backchannels += 1
            if hold.silent_at is not None and self._clock() > hold.audible_until:
                turn.hiccups += 1
        self._stats.resumes += 1
        self.trail.append((self._clock(), f"resume:{counted_as.value if counted_as else 'sound'}"))
        if hold.utterance is not None and counted_as is not None:
            self._listener.discard(hold.utterance)
            self._released = hold.utterance
        if self._layered:
            self._released_onset, self._released_at = hold.onset_at, self._clock()
            self._released_presumed = hold.presumed_at is not None or not hold.presume_again
        self.hold = None
        if counted_as is not None or hold.confirmed:
            self.detector.reset()
        # else: a sound with no voice (a tone, a hum) keeps its candidate until its energy ends, so it
        # does not duck the agent again every few frames.
        self._player.unduck()
        self._player.resume()

    async def _interrupt(self, turn: AgentTurn | None, hold: Hold, now: float) -> None:
        self.hold = None
        self._player.unduck()
        if turn is None:
            self._player.resume()
            return
        self._stats.interruptions += 1
        self.trail.append((now, "interrupt"))
        for part in (hold.earlier, hold.utterance):
            if part is not None and part.discarded:
                part.discarded = False
                self._listener.reclaim(part)
        await self._player.clear()
        self._recorder.cut_agent_after(now)
        self._player.drop_pending()
        self._player.resume()
        if turn.task is not None:
            turn.task.cancel()
        # Ducked or at full level until now: the clear silences the line now. Paused (the comparison
        # detectors): the caller heard what was already at Twilio, up to ``audible_until``.
        stopped_at = now if self._layered and hold.silent_at is None else min(now, hold.audible_until)
        turn.bargein_detect_ms = round((hold.paused_at - hold.onset_at) * 1000.0, 1)
        turn.stop_latency_ms = round((stopped_at - hold.onset_at) * 1000.0, 1)
        turn.clear_latency_ms = round((now - hold.onset_at) * 1000.0, 1)
        self._on_interrupted(turn, stopped_at)


def _agent_text(turn: AgentTurn | None) -> str:
    return turn.spoken_text() if turn is not None else ""


def _replaceable(utterance: Utterance | None) -> bool:
    """The hold follows the caller's words: a bound utterance that ended with no words (a noise the VAD
    took for a voice just before the caller spoke) gives way to the next one."""
    return utterance is None or (utterance.done.is_set() and not utterance.text)
