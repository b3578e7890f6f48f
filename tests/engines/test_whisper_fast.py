"""Whisper's short window: same words as the 30 s path on speech, nothing on a tone, long audio falls back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from engine_audio import words

from sdr_agent.engines.base import PCM16
from sdr_agent.engines.local import whisper_fast
from sdr_agent.engines.local.whisper_fast import _repeats, fits_window, token_cap
from sdr_agent.engines.local.whisper_model import (
    Clip,
    Recognition,
    SharedWhisper,
    WhisperConfig,
    default_model_path,
)

pytestmark = pytest.mark.engines


def _pair() -> tuple[SharedWhisper, SharedWhisper]:
    config = WhisperConfig(model=default_model_path())
    short, full = SharedWhisper(config), SharedWhisper(replace(config, short_window=False))
    full._model = short.model()
    return short, full


def test_token_cap_and_window_limits() -> None:
    assert token_cap(0.3) == whisper_fast.MIN_TOKEN_CAP
    assert token_cap(4.0) == 40
    assert fits_window(8000 * 9, 8000) and not fits_window(8000 * 12, 8000)
    assert _repeats("Beep beep Beep. beep") == 4 and _repeats("right, right.") == 2


def test_short_window_decodes_the_same_words_as_the_30_s_window(speech_8k: PCM16) -> None:
    short, full = _pair()
    a, b = short.recognise(speech_8k, 8000), full.recognise(speech_8k, 8000)
    assert words(a.text) == words(b.text)
    assert "tuesday" in words(a.text)


def test_a_tone_that_loops_the_decoder_gives_no_words() -> None:
    short, _ = _pair()
    t = np.arange(8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)
    assert short.recognise(tone, 8000).text == ""


def test_long_audio_takes_the_30_s_path(speech_8k: PCM16, monkeypatch: pytest.MonkeyPatch) -> None:
    short, _ = _pair()
    used: list[int] = []
    real = whisper_fast.fast_segments

    def spy(model: object, audio: np.ndarray, language: str, *options: object) -> object:
        used.append(len(audio))
        return real(model, audio, language, *options)  # type: ignore[arg-type]

    monkeypatch.setattr("sdr_agent.engines.local.whisper_model.fast_segments", spy)
    long_clip = np.concatenate([speech_8k, np.zeros(8000 * 11, dtype=np.int16)])
    assert "tuesday" in words(short.recognise(long_clip, 8000).text)
    assert used == []
    short.recognise(speech_8k, 8000)
    assert len(used) == 1


def test_a_short_clip_gets_the_beam_and_its_words_do_not_depend_on_its_batchmates(speech_8k: PCM16) -> None:
    config = WhisperConfig(model=default_model_path(), short_beam_size=5, beam_max_s=2.0)
    beamed = SharedWhisper(config)
    short_clip = speech_8k[: 8000 * 3 // 2]  # 1.5 s: beam search
    alone_short = beamed.recognise(short_clip, 8000)
    alone_long = beamed.recognise(speech_8k, 8000)  # longer than beam_max_s: greedy
    assert beamed._options(Clip(short_clip, 8000)) == (5, "")
    assert beamed._options(Clip(speech_8k, 8000))[0] == 1
    together = beamed.recognise_batch([Clip(short_clip, 8000), Clip(speech_8k, 8000)])
    assert [r.text for r in together if isinstance(r, Recognition)] == [alone_short.text, alone_long.text]
    assert "tuesday" in words(alone_long.text)


def test_the_bargein_prompt_applies_to_barge_in_clips_only(speech_8k: PCM16) -> None:
    prompted = SharedWhisper(WhisperConfig(model=default_model_path(), bargein_prompt="Wait, stop."))
    assert prompted._options(Clip(speech_8k, 8000, barge_in=True)) == (1, "Wait, stop.")
    assert prompted._options(Clip(speech_8k, 8000)) == (1, "")
    assert "tuesday" in words(prompted.recognise(speech_8k, 8000, barge_in=True).text)
    assert prompted.recognise(np.zeros(8000, dtype=np.int16), 8000, barge_in=True).text == ""
