"""Checkpointed call audio: the stretches written during the call add up to exactly the final recording,
also when a ``clear`` cut the agent's audio after a checkpoint."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from sdr_agent.voice.recorder import CallRecorder


def test_checkpoints_add_up_to_the_final_recording(tmp_path: Path) -> None:
    recorder = CallRecorder(max_seconds=60)
    recorder.start(0.0)
    pieces: list[bytes] = []
    saved = 0
    for frame in range(500):  # 10 s of 20 ms frames on both sides
        at = frame * 0.02
        recorder.add_caller(np.full(160, frame % 50 + 1, dtype=np.int16), at)
        # The agent's audio is scheduled 60 ms ahead of the clock, like the paced player.
        recorder.add_agent(np.full(160, -(frame % 30) - 1, dtype=np.int16), at + 0.06)
        if frame == 300:
            recorder.cut_agent_after(at)  # a barge-in: nothing after "now" was heard
        if frame % 50 == 49:
            upto = recorder.now_sample(at)
            pieces.append(recorder.render(saved, upto))
            saved = upto
    pieces.append(recorder.render(saved, recorder.end_sample))
    path = recorder.write_wav(tmp_path / "call.wav")
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        final = wav.readframes(wav.getnframes())
    assert b"".join(pieces) == final
    assert len(final) == recorder.end_sample * 4
