"""The energy gate in front of Silero: a quiet line runs no inference, speech is found no later than by an
always-on model, and one call's gate never changes another call's probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from engine_audio import FRAME_SAMPLES, silence

from sdr_agent.audio.resample import rms
from sdr_agent.engines.base import PCM16, AudioFrame
from sdr_agent.engines.factory import build_vad_factory
from sdr_agent.engines.local.vad import SileroVAD
from sdr_agent.engines.local.vad_gate import GateAction, SpeechGate
from sdr_agent.settings import VADSettings
from sdr_agent.voice.segmenter import SegmentEvent, SpeechSegmenter


def _frames(pcm: PCM16) -> list[PCM16]:
    return [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]


def _hiss(ms: int, rms_level: float, seed: int = 3) -> PCM16:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, rms_level, 8 * ms), -32768, 32767).astype(np.int16)


def _onsets(vad: SileroVAD, pcm: PCM16) -> list[int]:
    """Frames where the call's segmenter starts a caller utterance (ends one after 300 ms of silence)."""
    segmenter, starts = SpeechSegmenter(), []
    for index, frame in enumerate(_frames(pcm)):
        event = segmenter.process(AudioFrame(ulaw=b"", pcm=frame), vad.speech_probability(frame), rms(frame))
        if event is SegmentEvent.SPEECH_START:
            starts.append(index)
        elif event is SegmentEvent.SILENCE and segmenter.silence_ms >= 300:
            segmenter.end_segment()
    return starts


def test_a_quiet_line_never_runs_the_model() -> None:
    vad = SileroVAD()
    quiet = np.concatenate([silence(3000), _hiss(3000, 12.0)])
    probabilities = [vad.speech_probability(frame) for frame in _frames(quiet)]
    assert vad.windows_run == 0
    assert set(probabilities) == {0.0}
    assert vad.gate is not None and not vad.gate.is_open


def test_speech_after_silence_starts_no_later_than_without_the_gate(speech_8k: PCM16) -> None:
    # Two utterances and a long pause: at talking level on a silent line, 10 dB quieter on a hissy one.
    for gain, hiss in ((1.0, 0.0), (0.3, 8.0)):
        parts = [silence(2000), speech_8k, silence(2500), speech_8k, silence(1000)]
        pcm = np.concatenate(parts).astype(np.float64) * gain
        if hiss:
            pcm += _hiss(len(pcm) // 8, hiss)[: len(pcm)]
        line = np.clip(pcm, -32768, 32767).astype(np.int16)
        always_on, gated = SileroVAD(gate_rms=0), SileroVAD()
        reference, found = _onsets(always_on, line), _onsets(gated, line)
        assert len(reference) >= 2 and len(found) == len(reference), (gain, reference, found)
        for ref, got in zip(reference, found, strict=True):
            assert ref - 8 <= got <= ref, (gain, reference, found)  # never later; at most 160 ms earlier
        assert gated.windows_run < 0.8 * always_on.windows_run  # the pauses were skipped


def test_the_gate_closes_once_the_caller_has_stopped(speech_8k: PCM16) -> None:
    vad = SileroVAD()
    for frame in _frames(np.concatenate([silence(500), speech_8k])):
        vad.speech_probability(frame)
    assert vad.gate is not None and vad.gate.openings >= 1
    for frame in _frames(silence(1000)):
        vad.speech_probability(frame)
    assert not vad.gate.is_open
    ran = vad.windows_run
    for frame in _frames(silence(1000)):
        assert vad.speech_probability(frame) == 0.0
    assert vad.windows_run == ran


def test_one_calls_line_never_leaks_into_another(speech_8k: PCM16) -> None:
    # Two calls' detectors from the same factory, fed interleaved frames: one hears speech, one a quiet line.
    factory = build_vad_factory(VADSettings())
    talking, quiet = factory(), factory()
    assert isinstance(talking, SileroVAD) and isinstance(quiet, SileroVAD)
    solo = SileroVAD()
    speech = np.concatenate([silence(600), speech_8k, silence(600)])
    interleaved, alone = [], []
    for frame in _frames(speech):
        interleaved.append(talking.speech_probability(frame))
        assert quiet.speech_probability(silence(20)) == 0.0
        alone.append(solo.speech_probability(frame))
    assert interleaved == alone
    assert max(interleaved) > 0.5
    assert quiet.windows_run == 0


def test_gate_setting_zero_runs_the_model_on_every_window() -> None:
    vad = build_vad_factory(VADSettings(silero_gate_rms=0))()
    assert isinstance(vad, SileroVAD) and vad.gate is None
    for frame in _frames(silence(1280)):  # 10240 samples = 64 frames = 40 windows of 256
        vad.speech_probability(frame)
    assert vad.windows_run == 40


def test_gate_replays_the_frames_before_an_onset_oldest_first() -> None:
    gate = SpeechGate(40.0, preroll_frames=3, hang_frames=2)
    quiet = [np.full(FRAME_SAMPLES, level, dtype=np.int16) for level in (1, 2, 3, 4)]
    assert [gate.admit(frame) for frame in quiet] == [GateAction.SKIP] * 4
    assert gate.admit(np.full(FRAME_SAMPLES, 500, dtype=np.int16)) is GateAction.OPEN
    assert [int(frame[0]) for frame in gate.preroll()] == [2, 3, 4]
    assert gate.preroll() == []
    # Open until two quiet frames have passed and the model has let go.
    gate.scored(0.9)
    for _ in range(2):
        assert gate.admit(quiet[0]) is GateAction.SCORE
        gate.scored(0.9)
    assert gate.is_open  # still scoring speech: the model's hangover is reported as it was
    assert gate.admit(quiet[0]) is GateAction.SCORE
    gate.scored(0.05)
    assert not gate.is_open
    with pytest.raises(ValueError):
        SpeechGate(0.0)
