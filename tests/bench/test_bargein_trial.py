"""The barge-in trial harness: the Twilio-like line, the TTS cache, the VAD pool, and one short trial."""

from __future__ import annotations

import bench.bargein_trial as trial
import numpy as np
import pytest
from bench.bargein_corpus import Stimulus
from bench.bargein_score import score_trial

from sdr_agent.engines.fakes import FakeSTT, FakeTTS, FakeVAD, voiced_signal


class MarkLog:
    def __init__(self) -> None:
        self.marks: list[str] = []

    def on_mark(self, name: str) -> None:
        self.marks.append(name)


async def test_line_plays_one_frame_per_tick_and_echoes_marks_after_their_audio() -> None:
    line = trial.TrialLine()
    log = MarkLog()
    line.session = log  # type: ignore[assignment]
    await line.send_media(b"a" * 160)
    await line.send_mark("m1")
    await line.send_media(b"b" * 160)
    assert line.tick(0) == b"a" * 160 and log.marks == []
    assert line.tick(1) == b"b" * 160 and log.marks == ["m1"]
    assert line.tick(2) is None
    await line.send_media(b"c" * 160)
    await line.send_mark("m2")
    await line.send_clear()
    assert log.marks == ["m1", "m2"] and line.tick(3) is None
    assert line.played == {0: b"a" * 160, 1: b"b" * 160} and line.clear_ticks == [2]


async def test_cached_tts_synthesises_each_line_once() -> None:
    inner = FakeTTS(chunk_ms=100)
    tts = trial.CachedTTS(inner)
    first = [chunk.data async for chunk in tts.synthesize("Hello there.")]
    second = [chunk.data async for chunk in tts.synthesize("Hello there.")]
    assert first == second and len(inner.calls) == 1


def test_vad_pool_lends_and_takes_back() -> None:
    pool = trial.VADPool(FakeVAD, 1)
    first = pool.take()
    second = pool.take()  # pool empty: a new one is made
    assert first is not second
    pool.give_back([first, second])
    assert pool.take() in (first, second)


@pytest.fixture
def quick_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trial, "MONOLOGUE", "This is a long sentence the agent keeps saying for a while now.")
    monkeypatch.setattr(trial, "ONSET_AFTER_AUDIO_S", (0.4, 0.4))
    monkeypatch.setattr(trial, "AFTER_STIMULUS_S", 0.6)
    monkeypatch.setattr(trial, "ANSWER_WAIT_S", 1.5)


async def test_an_interruption_trial_stops_the_agent_and_gets_an_answer(quick_trials: None) -> None:
    speech = voiced_signal(300.0, 700.0)
    stimulus = Stimulus("interruption-x", "interruption", "Wait, how much is it?", 30.0, speech, noise_seed=3)
    engines = trial.TrialEngines(stt=FakeSTT(markers={300.0: "wait how much is it"}), tts=FakeTTS(),
                                 vads=trial.VADPool(FakeVAD, 2))
    trace = await trial.run_trial(stimulus, "energy", engines)
    outcome = score_trial(
        label="interruption", detector="energy", snr_db=30.0, kind=stimulus.kind, truth_text=stimulus.text,
        onset_tick=trace.onset_tick, end_tick=trace.end_tick, played=trace.played, responses=trace.responses,
        interruptions=trace.interruptions, interruptions_before_onset=trace.interruptions_before_onset,
    )
    assert trace.onset_tick is not None and trace.interruptions == 1
    assert outcome.recalled and outcome.stop_latency_ms is not None and outcome.stop_latency_ms < 400
    assert np.mean([t for t in trace.late_ticks_ms]) < 50
