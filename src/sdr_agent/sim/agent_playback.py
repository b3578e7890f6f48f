"""Twilio's playback buffer for the agent's audio, as the caller's phone experiences it.

Agent ``media`` is queued and played 160 bytes (20 ms) per tick; a ``mark`` sits behind the audio queued
before it and is due once that audio has finished playing; ``clear`` drops what has not played and makes
every pending mark due at once. Optionally the played audio leaks back into the caller's microphone (echo).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from sdr_agent.audio.mulaw import ULAW_SILENCE, pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.sim.call_record import FRAME_BYTES, EchoPath

SAMPLES_PER_MS = 8


@dataclass(slots=True)
class _PendingMark:
    name: str
    position: int  # total agent bytes queued when the mark arrived


class AgentPlayback:
    def __init__(self, echo: EchoPath | None = None) -> None:
        self._buffer = bytearray()
        self._queued_total = 0
        self._played_total = 0
        self._marks: deque[_PendingMark] = deque()
        self.playing = False
        self._echo = echo
        self._echo_gain = 10 ** (-echo.attenuation_db / 20) if echo else 0.0
        self._echo_line = np.zeros(echo.delay_ms * SAMPLES_PER_MS if echo else 0, dtype=np.int16)

    @property
    def queued_bytes(self) -> int:
        return len(self._buffer)

    def enqueue(self, audio: bytes) -> None:
        self._buffer.extend(audio)
        self._queued_total += len(audio)

    def add_mark(self, name: str) -> None:
        self._marks.append(_PendingMark(name, self._queued_total))

    def finished_marks(self) -> list[str]:
        """Marks whose audio has completely played (call at a tick's start, before playing its frame)."""
        done: list[str] = []
        while self._marks and self._marks[0].position <= self._played_total:
            done.append(self._marks.popleft().name)
        return done

    def clear(self) -> tuple[int, list[str]]:
        """Drop unplayed audio; returns (bytes dropped, pending marks now due)."""
        dropped = len(self._buffer)
        self._buffer.clear()
        self._queued_total = self._played_total
        marks = [mark.name for mark in self._marks]
        self._marks.clear()
        return dropped, marks

    def play_tick(self) -> bytes | None:
        """The frame heard during this tick (padded with silence), or None when nothing is queued."""
        if not self._buffer:
            self.playing = False
            return None
        chunk = bytes(self._buffer[:FRAME_BYTES])
        del self._buffer[:FRAME_BYTES]
        self._played_total += len(chunk)
        self.playing = True
        return chunk.ljust(FRAME_BYTES, bytes([ULAW_SILENCE]))

    def with_echo(self, caller_frame: bytes, played: bytes | None) -> bytes:
        """The caller's microphone frame with the agent's played audio leaking in (delayed, attenuated)."""
        if self._echo is None:
            return caller_frame
        agent = ulaw_to_pcm(played) if played is not None else np.zeros(FRAME_BYTES, dtype=np.int16)
        line = np.concatenate([self._echo_line, agent])
        echo, self._echo_line = line[:FRAME_BYTES], line[FRAME_BYTES:]
        mixed = ulaw_to_pcm(caller_frame).astype(np.float64) + echo.astype(np.float64) * self._echo_gain
        return pcm_to_ulaw(np.clip(mixed, -32768, 32767).astype(np.int16))
