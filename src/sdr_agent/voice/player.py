"""Paced outbound playback with marks, pause/rewind and an estimate of what the caller has heard.

Audio goes out in 20 ms frames against an absolute clock, at most ``lead_s`` ahead of real time, so a
``clear`` drops little and the session always knows which frame is playing. Twilio echoes a mark when
everything before it has played, *or* immediately when a ``clear`` drops it; marks outstanding at a
clear are therefore remembered and their echoes ignored.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sdr_agent.audio.mulaw import ULAW_SILENCE, pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.voice.transport import MediaTransport

log = logging.getLogger(__name__)

FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
FRAME_S = 0.020


@dataclass(slots=True)
class _Frame:
    segment_id: int
    ulaw: bytes


@dataclass(slots=True)
class _MarkEntry:
    segment_id: int
    final: bool  # the segment's last mark (sentence fully played)
    name: str | None = None  # set when sent


@dataclass(slots=True)
class SegmentPlayback:
    """One sentence's audio and when each of its frames plays."""

    segment_id: int
    text: str
    total_frames: int = 0
    complete: bool = False  # all audio enqueued
    play_starts: list[float] = field(default_factory=list)  # play start time of each sent frame
    played: bool = False  # final mark echoed (not by a clear)
    dropped: bool = False

    def played_fraction(self, at: float) -> float:
        if self.played:
            return 1.0
        if self.total_frames == 0:
            return 0.0
        heard = bisect.bisect_right(self.play_starts, at - FRAME_S / 2)
        return min(1.0, heard / self.total_frames)


class PacedPlayer:
    def __init__(
        self,
        transport: MediaTransport,
        *,
        lead_s: float = 0.12,
        clock: Callable[[], float] = time.monotonic,
        on_segment_played: Callable[[int], None] | None = None,
        on_frame_sent: Callable[[bytes, float], None] | None = None,
    ) -> None:
        self._transport = transport
        self._lead = lead_s
        self._clock = clock
        self._on_segment_played = on_segment_played
        self._on_frame_sent = on_frame_sent
        self._pending: deque[_Frame | _MarkEntry] = deque()
        self._sent: deque[tuple[_Frame | _MarkEntry, float]] = deque()
        self._segments: dict[int, SegmentPlayback] = {}
        self._marks: dict[str, tuple[int, bool]] = {}
        self._ignored_marks: set[str] = set()
        self._mark_names = itertools.count(1)
        self._segment_ids = itertools.count(1)
        self._cursor = 0.0  # when the last sent frame finishes playing
        self._wakeup = asyncio.Event()
        self._paused = False
        self._gain = 1.0  # < 1 while ducked under a caller's onset
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.frames_sent = 0
        self.first_frame_at: float | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="paced-player")

    async def stop(self) -> None:
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ------------------------------------------------------------ producer side
    def new_segment(self, text: str) -> int:
        segment_id = next(self._segment_ids)
        self._segments[segment_id] = SegmentPlayback(segment_id, text)
        return segment_id

    def enqueue_audio(self, segment_id: int, ulaw: bytes) -> None:
        segment = self._segments[segment_id]
        if segment.dropped:
            return
        for offset in range(0, len(ulaw), FRAME_BYTES):
            chunk = ulaw[offset : offset + FRAME_BYTES]
            if len(chunk) < FRAME_BYTES:
                chunk = chunk + bytes([ULAW_SILENCE]) * (FRAME_BYTES - len(chunk))
            self._pending.append(_Frame(segment_id, chunk))
            segment.total_frames += 1
        self._wakeup.set()

    def finish_segment(self, segment_id: int) -> None:
        """All audio of the sentence is queued: follow it with its mark."""
        segment = self._segments[segment_id]
        if segment.dropped:
            return
        segment.complete = True
        self._pending.append(_MarkEntry(segment_id, final=True))
        self._wakeup.set()

    def segment(self, segment_id: int) -> SegmentPlayback:
        return self._segments[segment_id]

    # ------------------------------------------------------------ control
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop sending new frames; what is already at Twilio (≤ lead) still plays."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wakeup.set()

    @property
    def ducked(self) -> bool:
        return self._gain < 1.0

    def duck(self, db: float) -> None:
        """Keep talking, ``db`` quieter, from the next frame sent: the audible yield at a caller's onset
        (a person who hears "uh-huh" softens without stopping). What is already at Twilio (≤ lead) plays
        at full level."""
        self._gain = 10 ** (-abs(db) / 20)

    def unduck(self) -> None:
        self._gain = 1.0

    async def clear(self) -> None:
        """Send ``clear`` and rewind every frame Twilio had not started playing, so it can be re-sent."""
        now = self._clock()
        await self._transport.send_clear()
        rewound: list[_Frame | _MarkEntry] = []
        while self._sent and self._sent[-1][1] >= now:
            entry, _ = self._sent.pop()
            rewound.append(entry)
        for entry in rewound:  # newest first
            if isinstance(entry, _Frame):
                starts = self._segments[entry.segment_id].play_starts
                if starts:
                    starts.pop()
            elif entry.name is not None:
                # Twilio echoes this mark at once because of the clear: that echo does not mean "played".
                self._ignored_marks.add(entry.name)
                self._marks.pop(entry.name, None)
                entry.name = None
            self._pending.appendleft(entry)
        self._cursor = now

    def drop_pending(self) -> list[int]:
        """Forget everything not yet sent (a real interruption). Returns the affected segment ids."""
        affected = {entry.segment_id for entry in self._pending}
        self._pending.clear()
        for segment in self._segments.values():
            if not segment.played:
                segment.dropped = True
        return sorted(affected)

    # ------------------------------------------------------------ observation
    def audible(self, at: float | None = None) -> bool:
        """Estimated: is the caller hearing (or about to hear) agent audio right now?"""
        now = self._clock() if at is None else at
        return self._cursor > now or (bool(self._pending) and not self._paused)

    def has_pending(self) -> bool:
        return bool(self._pending)

    @property
    def playout_end(self) -> float:
        return self._cursor

    def on_mark(self, name: str) -> None:
        """Twilio echoed a mark."""
        if name in self._ignored_marks:
            self._ignored_marks.discard(name)
            return
        info = self._marks.pop(name, None)
        if info is None:
            log.debug("unknown mark %s", name)
            return
        segment_id, final = info
        segment = self._segments.get(segment_id)
        if segment is not None and final:
            segment.played = True
            if self._on_segment_played is not None:
                self._on_segment_played(segment_id)

    # ------------------------------------------------------------ sender loop
    async def _run(self) -> None:
        while not self._closed:
            if self._paused or not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = self._clock()
            wait = self._cursor - self._lead - now
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            entry = self._pending.popleft()
            try:
                await self._send(entry, now)
            except Exception:
                log.warning("media send failed; dropping playback", exc_info=True)
                self._pending.clear()
            self._trim_history(now)

    async def _send(self, entry: _Frame | _MarkEntry, now: float) -> None:
        if isinstance(entry, _MarkEntry):
            name = f"seg{entry.segment_id}-{next(self._mark_names)}"
            entry.name = name
            self._marks[name] = (entry.segment_id, entry.final)
            self._sent.append((entry, self._cursor))
            await self._transport.send_mark(name)
            return
        payload = entry.ulaw
        if self._gain < 1.0:  # the original stays in history: a rewound frame is re-sent as it was
            payload = pcm_to_ulaw((ulaw_to_pcm(payload).astype(np.float32) * self._gain).astype(np.int16))
        start = max(self._cursor, now)
        self._cursor = start + FRAME_S
        self._segments[entry.segment_id].play_starts.append(start)
        self._sent.append((entry, start))
        if self.first_frame_at is None:
            self.first_frame_at = now
        self.frames_sent += 1
        if self._on_frame_sent is not None:
            self._on_frame_sent(payload, start)
        await self._transport.send_media(payload)

    def _trim_history(self, now: float) -> None:
        # Frames that started playing more than a second ago can never be rewound.
        while self._sent and self._sent[0][1] < now - 1.0:
            self._sent.popleft()
