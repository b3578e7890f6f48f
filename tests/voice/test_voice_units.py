"""Unit tests of the call loop's pure parts: the seed energy detector, the layered detector, the echo
canceller, the paced player's marks and clear, sentence splitting and the backchannel rule."""

from __future__ import annotations

import asyncio

import numpy as np

from sdr_agent.engines.fakes import voiced_signal
from sdr_agent.voice.backchannel import BackchannelClassifier, WordsVerdict
from sdr_agent.voice.bargein import BargeInConfig, BargeInDetector, BargeInEvent
from sdr_agent.voice.caller_turn import Utterance, with_stop_words
from sdr_agent.voice.echo import EchoCanceller
from sdr_agent.voice.energy import EnergyConfig, EnergyDetector
from sdr_agent.voice.player import PacedPlayer
from sdr_agent.voice.sentences import SentenceSplitter


def test_seed_energy_detector_needs_two_high_frames_and_100ms_then_debounces() -> None:
    detector = EnergyDetector(EnergyConfig(debounce_ms=300.0))
    assert detector.threshold == 800.0  # max(baseline × 2.8, 800) with a quiet line
    fired = [detector.process(2500.0, t) for t in (0.0, 20.0, 40.0, 60.0, 80.0)]
    assert fired == [False, False, False, False, True]  # 100 ms of sustained energy
    assert not detector.process(2500.0, 100.0)  # debounce
    assert not detector.process(100.0, 120.0) and detector.speech_start_ms is None  # a quiet frame resets


def test_seed_baseline_adapts_only_while_nobody_speaks() -> None:
    detector = EnergyDetector(EnergyConfig(initial_baseline=100.0, baseline_alpha=0.5))
    detector.process(500.0, 0.0)  # below threshold: counts as background
    assert detector.baseline == 300.0
    detector.process(5000.0, 20.0)  # speech: baseline unchanged
    assert detector.baseline == 300.0
    assert detector.threshold == max(300.0 * 2.8, 800.0)


def test_layered_detector_confirms_a_voice_but_never_a_loud_non_speech_sound() -> None:
    layered = BargeInDetector(BargeInConfig())
    speech = [layered.process(2500.0, 0.9, t) for t in range(0, 120, 20)]
    assert BargeInEvent.CANDIDATE in speech and BargeInEvent.CONFIRMED in speech
    tone = BargeInDetector(BargeInConfig())
    events = [tone.process(9000.0, 0.02, t) for t in range(0, 600, 20)]
    # Energy alone ducks the agent once (a candidate), but without the VAD it is never confirmed.
    assert events.count(BargeInEvent.CANDIDATE) == 1 and BargeInEvent.CONFIRMED not in events
    energy_only = BargeInDetector(BargeInConfig(mode="energy"))
    assert BargeInEvent.CONFIRMED in {energy_only.process(9000.0, 0.02, t) for t in range(0, 600, 20)}


def test_layered_detector_hears_a_quiet_voice_below_the_seed_threshold() -> None:
    detector = BargeInDetector(BargeInConfig())
    events = [detector.process(500.0, 0.95, t) for t in range(0, 200, 20)]
    assert events.index(BargeInEvent.CANDIDATE) == 1  # 40 ms: layered mode ducks on the first agreeing frame
    assert BargeInEvent.CONFIRMED in events
    assert detector.onset_ms == 0.0


def test_echo_canceller_removes_a_delayed_attenuated_copy_but_keeps_the_caller() -> None:
    canceller = EchoCanceller()
    agent = voiced_signal(150.0, 2000.0)
    start = 100.0
    canceller.add_reference(agent, start)
    delay = 160  # 20 ms
    echo_level, leftovers, caller_kept = [], [], []
    caller = voiced_signal(260.0, 2000.0, peak=0.2)
    for i in range(20, 80):
        at = start + (i * 160 + 160) / 8000.0
        leak = (agent[i * 160 - delay : i * 160 + 160 - delay] * 0.18).astype(np.int16)
        echo_level.append(np.abs(leak).mean())
        leftovers.append(np.abs(canceller.process(leak, at)).mean())
    assert np.mean(leftovers) < 0.1 * np.mean(echo_level)
    for i in range(80, 100):
        at = start + (i * 160 + 160) / 8000.0
        frame = caller[i * 160 : i * 160 + 160]
        caller_kept.append(np.abs(canceller.process(frame, at)).mean() / max(1.0, np.abs(frame).mean()))
    assert np.mean(caller_kept) > 0.7


class _Line:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_media(self, ulaw: bytes) -> None:
        self.sent.append("media")

    async def send_mark(self, name: str) -> None:
        self.sent.append(f"mark:{name}")

    async def send_clear(self) -> None:
        self.sent.append("clear")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


async def test_player_paces_sends_a_mark_per_sentence_and_ignores_marks_echoed_by_clear() -> None:
    line = _Line()
    played: list[int] = []
    player = PacedPlayer(line, lead_s=0.04, on_segment_played=played.append)
    player.start()
    first = player.new_segment("Hello there.")
    player.enqueue_audio(first, b"\xff" * 1600)  # 200 ms
    player.finish_segment(first)
    await asyncio.sleep(0.1)
    assert 3 <= line.sent.count("media") <= 9  # paced: never the whole sentence at once
    await asyncio.sleep(0.25)
    marks = [s.split(":", 1)[1] for s in line.sent if s.startswith("mark:")]
    assert len(marks) == 1
    player.on_mark(marks[0])
    assert played == [first] and player.segment(first).played

    second = player.new_segment("A longer sentence.")
    player.enqueue_audio(second, b"\xff" * 4000)  # 500 ms
    player.finish_segment(second)
    await asyncio.sleep(0.1)
    await player.clear()  # caller interrupted: rewind what Twilio had not played
    fraction = player.segment(second).played_fraction(asyncio.get_running_loop().time())
    assert 0.0 < fraction < 1.0
    player.drop_pending()
    await asyncio.sleep(0.1)
    assert not player.segment(second).played
    await player.stop()


def test_sentence_splitter_streams_sentences_and_keeps_abbreviations_and_prices() -> None:
    splitter = SentenceSplitter()
    out = splitter.feed("Hi Dr. Smith, the plan costs 49.50 dollars. Want a ")
    out += splitter.feed("demo? Great")
    assert out == ["Hi Dr. Smith, the plan costs 49.50 dollars.", "Want a demo?"]
    assert splitter.flush() == ["Great"]


def test_backchannels_echo_and_interruptions_are_told_apart() -> None:
    classifier = BackchannelClassifier(["uh-huh", "mm-hmm", "yeah", "right", "okay", "i see"])
    assert classifier.classify("Uh-huh.") is WordsVerdict.BACKCHANNEL
    assert classifier.classify("yeah, okay, I see") is WordsVerdict.BACKCHANNEL
    assert classifier.classify("") is WordsVerdict.NONE
    assert classifier.classify("wait, how much?") is WordsVerdict.INTERRUPTION
    agent = "The Team plan costs forty nine dollars per user"
    assert classifier.classify("plan costs forty nine dollars", agent_text=agent) is WordsVerdict.ECHO
    assert classifier.classify("yeah but what about security", agent_text=agent) is WordsVerdict.INTERRUPTION


def test_the_words_that_stopped_the_agent_lead_a_final_that_lost_them() -> None:
    assert with_stop_words("Can I have something?", "sorry") == "Sorry. Can I have something?"
    assert with_stop_words("", "hold on") == "Hold on."
    # kept once: the final heard them too, wherever they are
    assert with_stop_words("Sorry, can I ask something?", "sorry") == "Sorry, can I ask something?"
    assert with_stop_words("Okay, hold on. Who is this?", "hold on") == "Okay, hold on. Who is this?"
    assert with_stop_words("Who is this?", "") == "Who is this?"
    utterance = Utterance(started_at=0.0, partial="Sorry.")
    utterance.stop_words = "sorry"
    assert utterance.text == "Sorry."  # the partial as it is until the final comes
    utterance.resolve("can have something")
    assert utterance.text == "Sorry. can have something"
