"""The barge-in corpus is labelled, reproducible and mixed at the SNR it claims."""

from __future__ import annotations

import numpy as np
import pytest
from bench.bargein_corpus import (
    BACKCHANNELS,
    INTERRUPTIONS,
    NON_SPEECH,
    VOICES,
    CorpusPlan,
    active_rms,
    build_corpus,
    line_noise,
    non_speech_sound,
)

from sdr_agent.engines.fakes import voiced_signal


def fake_speech() -> dict[tuple[str, str], np.ndarray]:
    """Stand-in for the TTS: a voiced signal whose length depends on the text."""
    return {
        (text, voice.name): voiced_signal(120.0 * voice.pitch, 60.0 * len(text))
        for text in (*INTERRUPTIONS, *BACKCHANNELS)
        for voice in VOICES
    }


def test_corpus_has_the_planned_classes_and_is_reproducible() -> None:
    plan = CorpusPlan(interruptions=9, backchannels=10, non_speech=7, echo=3)
    first, second = build_corpus(plan, fake_speech()), build_corpus(plan, fake_speech())
    counts = {label: sum(1 for s in first if s.label == label) for label in ("interruption", "backchannel",
                                                                             "non_speech", "echo")}
    assert counts == {"interruption": 9, "backchannel": 10, "non_speech": 7, "echo": 3}
    assert [s.stimulus_id for s in first] == [s.stimulus_id for s in second]
    pairs = zip(first, second, strict=True)
    assert all(np.array_equal(a.pcm, b.pcm) and a.noise_seed == b.noise_seed for a, b in pairs)
    assert len({s.stimulus_id for s in first}) == len(first)
    for label in ("interruption", "backchannel", "non_speech"):
        assert {s.snr_db for s in first if s.label == label} == set(plan.snrs_db)
    kinds = {s.kind for s in first if s.label == "interruption"}
    assert kinds <= set(INTERRUPTIONS) and len(kinds) >= 3
    assert {s.text for s in first if s.label == "non_speech"} == {""}
    echo = [s for s in first if s.label == "echo"]
    assert all(15 <= s.echo_attenuation_db <= 25 and 100 <= s.echo_delay_ms <= 250 for s in echo)
    assert all(len(s.pcm) == 0 for s in echo)


def test_another_seed_gives_another_corpus() -> None:
    speech = fake_speech()
    a = build_corpus(CorpusPlan(interruptions=6, backchannels=0, non_speech=0, echo=0), speech)
    b = build_corpus(CorpusPlan(interruptions=6, backchannels=0, non_speech=0, echo=0, seed=7), speech)
    assert [s.noise_seed for s in a] != [s.noise_seed for s in b]


@pytest.mark.parametrize("kind", NON_SPEECH)
def test_every_non_speech_kind_is_finite_audio(kind: str) -> None:
    sound = non_speech_sound(kind, np.random.default_rng(1))
    assert len(sound) >= 800 and np.all(np.isfinite(sound)) and active_rms(sound) > 0


def test_unknown_non_speech_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown non-speech kind"):
        non_speech_sound("whistle", np.random.default_rng(1))


def test_line_noise_sits_at_the_stimulus_snr() -> None:
    corpus = build_corpus(CorpusPlan(interruptions=3, backchannels=0, non_speech=0, echo=0), fake_speech())
    for stimulus in corpus:
        noise = line_noise(stimulus, 16000)
        measured = 20 * np.log10(active_rms(stimulus.pcm) / float(np.sqrt(np.mean(noise**2))))
        assert measured == pytest.approx(stimulus.snr_db, abs=0.5)
    again = line_noise(corpus[0], 16000)
    assert np.array_equal(again, line_noise(corpus[0], 16000))
