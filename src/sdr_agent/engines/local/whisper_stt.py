"""Streaming speech-to-text from a batch model: faster-whisper plus VAD segmentation.

Whisper only decodes whole clips, so the stream keeps the caller's current segment (8 kHz PCM), asks a VAD
which frames are speech, and while speech keeps arriving re-decodes the growing segment every
``partial_interval_ms`` of audio to emit partials. ``finalize()`` decodes the whole segment once more and
emits the final; the next frame starts a new segment. Before any speech the segment keeps only a short
pre-roll, so a silent caller costs no memory and no decodes, and a segment with no voiced frame is never
decoded at all (its final is "") — the first guard against Whisper's hallucinations on silence; the
second is ``whisper_filter``.

Scheduling: ``send``, ``finalize`` and ``clear`` never wait for a decode. Each stream has one worker task
feeding the process-wide decode worker (``SharedWhisper.submit``: finals before partials, calls served in
turn, short clips batched); a partial is started only if none is in flight (otherwise it is skipped, not
queued), a partial whose segment was finalised or cleared meanwhile is dropped (taken off the shared queue
if it has not started), a partial a final will reuse is promoted to a final's priority, and finals are
decoded in order. Speech longer than ``MAX_SEGMENT_S`` is cut into is_final (not speech_final) pieces,
so consumers join is_final texts until speech_final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import numpy as np

from sdr_agent.audio.resample import resample
from sdr_agent.engines.base import (
    PCM16,
    AudioFrame,
    EngineError,
    Transcript,
    VADFactory,
    VoiceActivityDetector,
    drain_transcripts,
)
from sdr_agent.engines.local.fair_worker import Priority, Ticket
from sdr_agent.engines.local.vad import SileroVAD
from sdr_agent.engines.local.whisper_model import (
    Clip,
    Recognition,
    SharedWhisper,
    WhisperConfig,
    default_model_path,
    shared_whisper,
)
from sdr_agent.settings import STTSettings

log = logging.getLogger(__name__)

STREAM_RATE = 8000
PRE_ROLL_MS = 300  # audio kept before the first voiced frame: VADs fire a little after the onset
MIN_PARTIAL_SPEECH_MS = 200  # shorter voiced audio decodes to noise more often than to words
KEPT_PARTIALS = 8  # recent partial decodes a final may still reuse
# While the caller talks over the agent (``set_urgent``) the session is deciding whether to stop: a stop
# word 150 ms sooner is a stop 150 ms sooner, so partials come every 150 ms (first at 200 ms of voice)
# and jump the queue like finals. Bounded: a barge-in hold lasts ~1-1.7 s.
URGENT_PARTIAL_INTERVAL_MS = 150
MAX_SEGMENT_S = 28.0  # Whisper sees 30 s at most; longer speech becomes is_final (not speech_final) pieces


@dataclass(frozen=True, slots=True)
class _DecodeJob:
    segment_id: int
    audio: PCM16 | None  # None: nothing voiced, the final is "" without a decode
    final: bool
    speech_final: bool
    start_s: float
    end_s: float
    job_id: int = 0
    covers_voiced_to: int = 0  # the segment's last voiced sample this decode includes
    reuse_job_id: int = 0  # a final that takes the words of this (already queued) partial decode
    urgent: bool = False  # a partial asked for while the caller talks over the agent


class WhisperSTT:
    """``SpeechToText`` on faster-whisper; the model is shared by every stream in the process."""

    name = "whisper"

    def __init__(
        self,
        settings: STTSettings | None = None,
        vad_factory: VADFactory | None = None,
        vad_threshold: float = 0.5,
    ) -> None:
        settings = settings or STTSettings()
        if settings.partial_interval_ms <= 0:
            raise ValueError("stt.partial_interval_ms must be positive")
        self._config = WhisperConfig(
            model=settings.whisper_model_path or default_model_path(),
            compute_type=settings.whisper_compute_type,
            threads=settings.whisper_threads,
            language=settings.language,
            short_beam_size=settings.whisper_short_beam_size,
            bargein_prompt=settings.whisper_bargein_prompt,
        )
        self._partial_interval_ms = settings.partial_interval_ms
        self._vad_factory: VADFactory = vad_factory or (lambda: SileroVAD(STREAM_RATE))
        self._vad_threshold = vad_threshold

    @property
    def shared(self) -> SharedWhisper:
        return shared_whisper(self._config)

    async def open_stream(self) -> WhisperStream:
        # Building a Silero VAD takes 50-90 ms: off the event loop, where every live call's audio runs.
        vad = await asyncio.to_thread(self._vad_factory)
        return WhisperStream(self.shared, vad, self._vad_threshold, self._partial_interval_ms)

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, not {sample_rate}")
        if len(pcm) == 0:
            return ""
        pcm = pcm.astype(np.int16, copy=False)
        # Its own owner: a one-off transcription takes its turn like any call.
        ticket = self.shared.submit(object(), pcm, sample_rate, Priority.URGENT)
        return (await asyncio.wrap_future(ticket.future)).text

    async def warm_up(self) -> None:
        """Load the model and run one decode so the first caller turn is not slow."""
        await self.transcribe(np.zeros(STREAM_RATE // 2, dtype=np.int16), STREAM_RATE)


class WhisperStream:
    """One call's recognition session; see the module docstring for the segmentation."""

    def __init__(
        self,
        shared: SharedWhisper,
        vad: VoiceActivityDetector,
        vad_threshold: float,
        partial_interval_ms: int,
    ) -> None:
        if vad.sample_rate != STREAM_RATE:
            raise ValueError(f"the stream's VAD must run at {STREAM_RATE} Hz, not {vad.sample_rate}")
        self._shared = shared
        self._vad = vad
        self._threshold = vad_threshold
        self._partial_interval = STREAM_RATE * partial_interval_ms // 1000
        self._jobs: asyncio.Queue[_DecodeJob | None] = asyncio.Queue()
        self._results: asyncio.Queue[Transcript | EngineError | None] = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="whisper-stream")
        self._received = 0  # samples since the stream opened: the clock for start_s / end_s
        self._segment_id = 0
        self._partial_busy = False
        self._last_partial_text = ""
        self._closed = False
        self._job_ids = 0
        # A partial that already heard every voiced frame of its segment becomes that segment's final
        # (no second decode after the caller stops: this is most of the end-of-turn latency).
        self._needed_partials: set[int] = set()
        self._last_partial_job: _DecodeJob | None = None
        self._partial_results: dict[int, Recognition | None] = {}
        self._in_flight: tuple[_DecodeJob, Ticket[Clip, Recognition]] | None = None
        self._urgent = False
        self._new_segment()

    def set_urgent(self, urgent: bool) -> None:
        """The session is deciding whether the caller interrupts the agent: partials early and often, ahead
        of other calls' interim work (see ``URGENT_PARTIAL_INTERVAL_MS``)."""
        self._urgent = urgent
        if urgent and self._in_flight is not None and not self._in_flight[0].final:
            self._shared.promote(self._in_flight[1])  # the partial already queued carries the first words

    # ------------------------------------------------------------------ input side
    async def send(self, frame: AudioFrame) -> None:
        if self._closed:
            return
        pcm = frame.pcm
        if frame.sample_rate != STREAM_RATE:
            pcm = resample(pcm, frame.sample_rate, STREAM_RATE)
        if len(pcm) == 0:
            return
        voiced = self._vad.speech_probability(pcm) >= self._threshold
        self._chunks.append(pcm)
        self._samples += len(pcm)
        self._received += len(pcm)
        if voiced:
            if self._voiced == 0:
                self._partial_mark = self._samples
            self._voiced += len(pcm)
            self._voiced_to = self._samples
        elif self._voiced == 0:
            self._trim_to_pre_roll()
        elif self._closing_partial_due():
            # The caller just paused: decode everything now, so the final is ready when the turn ends.
            self._start_partial()
            return
        if self._samples >= MAX_SEGMENT_S * STREAM_RATE:
            self._submit_final(speech_final=False)
        elif voiced and self._partial_due():
            self._start_partial()

    def _start_partial(self) -> None:
        self._partial_busy = True
        self._partial_mark = self._samples
        job = replace(self._job(final=False, speech_final=False), urgent=self._urgent)
        self._last_partial_job = job
        self._jobs.put_nowait(job)

    def _partial_covers_all(self) -> bool:
        partial = self._last_partial_job
        return partial is not None and partial.covers_voiced_to >= self._voiced_to

    def _closing_partial_due(self) -> bool:
        return (
            not self._partial_busy
            and not self._partial_covers_all()
            and self._voiced >= STREAM_RATE * MIN_PARTIAL_SPEECH_MS // 1000
            and self._samples - self._voiced_to <= 2 * len(self._chunks[-1])
        )

    async def finalize(self) -> None:
        if not self._closed:
            self._submit_final(speech_final=True)

    async def clear(self) -> None:
        self._new_segment()
        self._drop_stale_partial()

    def _drop_stale_partial(self) -> None:
        """A queued partial of a segment that has ended is only load on the shared worker: take it off."""
        if self._in_flight is None:
            return
        job, ticket = self._in_flight
        if not job.final and job.segment_id != self._segment_id and job.job_id not in self._needed_partials:
            ticket.future.cancel()  # False (and harmless) once the decode has started

    # ------------------------------------------------------------------ output side
    def results(self) -> AsyncIterator[Transcript]:
        return drain_transcripts(self._results)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._results.put_nowait(None)

    # ------------------------------------------------------------------ internals
    def _new_segment(self) -> None:
        self._segment_id += 1
        self._chunks: list[PCM16] = []
        self._samples = 0
        self._start = self._received
        self._voiced = 0
        self._voiced_to = 0
        self._partial_mark = 0
        self._last_partial_text = ""
        self._last_partial_job = None

    def _trim_to_pre_roll(self) -> None:
        keep = STREAM_RATE * PRE_ROLL_MS // 1000
        if self._samples <= keep:
            return
        audio = np.concatenate(self._chunks)[-keep:]
        self._chunks = [audio]
        self._start += self._samples - keep
        self._samples = keep

    def _partial_due(self) -> bool:
        return (
            not self._partial_busy
            and self._voiced >= STREAM_RATE * MIN_PARTIAL_SPEECH_MS // 1000
            and self._samples - self._partial_mark >= self._interval()
        )

    def _interval(self) -> int:
        if self._urgent:
            return min(self._partial_interval, STREAM_RATE * URGENT_PARTIAL_INTERVAL_MS // 1000)
        return self._partial_interval

    def _job(self, final: bool, speech_final: bool) -> _DecodeJob:
        audio = np.concatenate(self._chunks) if self._voiced and self._chunks else None
        self._job_ids += 1
        return _DecodeJob(
            job_id=self._job_ids,
            covers_voiced_to=self._voiced_to,
            segment_id=self._segment_id,
            audio=audio,
            final=final,
            speech_final=speech_final,
            start_s=self._start / STREAM_RATE,
            end_s=(self._start + self._samples) / STREAM_RATE,
        )

    def _submit_final(self, speech_final: bool) -> None:
        partial = self._last_partial_job
        # A barge-in partial was decoded with the barge-in prompt: its words may lean towards "stop", so an
        # ordinary turn's final is decoded afresh.
        if (speech_final and self._voiced and partial is not None and not partial.urgent
                and self._partial_covers_all()):
            # That partial heard every voiced frame: its words are the final, no second decode.
            self._needed_partials.add(partial.job_id)
            final = replace(partial, audio=None, final=True, speech_final=True, reuse_job_id=partial.job_id,
                            end_s=(self._start + self._samples) / STREAM_RATE)
            self._jobs.put_nowait(final)
            if self._in_flight is not None and self._in_flight[0].job_id == partial.job_id:
                self._shared.promote(self._in_flight[1])
        else:
            self._jobs.put_nowait(self._job(final=True, speech_final=speech_final))
        self._new_segment()
        self._drop_stale_partial()

    async def _run(self) -> None:
        while True:
            job = await self._jobs.get()
            if job is None:
                return
            if job.reuse_job_id:
                self._emit_final(job, self._partial_results.pop(job.reuse_job_id, None))
                continue
            needed = job.job_id in self._needed_partials
            if not job.final and job.segment_id != self._segment_id and not needed:
                self._partial_busy = False
                continue  # the segment was finalised or cleared while this partial waited
            try:
                recognition = None
                if job.audio is not None:
                    urgent = job.final or job.urgent or job.job_id in self._needed_partials
                    ticket = self._shared.submit(
                        self, job.audio, STREAM_RATE, Priority.URGENT if urgent else Priority.LATER,
                        barge_in=job.urgent,
                    )
                    self._in_flight = (job, ticket)
                    try:
                        recognition = await asyncio.wrap_future(ticket.future)
                    finally:
                        self._in_flight = None
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # aclose()
                self._partial_busy = False  # _drop_stale_partial took it off the queue
                continue
            except Exception as exc:
                if job.job_id in self._needed_partials:
                    # The final that relies on this decode must not wait for words that will never come.
                    self._needed_partials.discard(job.job_id)
                    self._partial_results[job.job_id] = None
                if job.final:
                    failure = exc if isinstance(exc, EngineError) else EngineError(f"whisper failed: {exc}")
                    self._results.put_nowait(failure)
                else:
                    log.warning("whisper partial decode failed: %s", exc)
                    self._partial_busy = False
                continue
            if job.final:
                self._emit_final(job, recognition)
            else:
                self._partial_busy = False
                # Kept even when nobody has asked yet: finalize() may claim it after this decode is done.
                self._needed_partials.discard(job.job_id)
                self._partial_results[job.job_id] = recognition
                for stale in [key for key in self._partial_results if key < job.job_id - KEPT_PARTIALS]:
                    del self._partial_results[stale]
                self._emit_partial(job, recognition)

    def _emit_partial(self, job: _DecodeJob, recognition: Recognition | None) -> None:
        if recognition is None or job.segment_id != self._segment_id:
            return  # finalize() overtook this decode; the final will carry the words
        if not recognition.text or recognition.text == self._last_partial_text:
            return
        self._last_partial_text = recognition.text
        self._results.put_nowait(
            Transcript(recognition.text, False, False, recognition.confidence, job.start_s, job.end_s)
        )

    def _emit_final(self, job: _DecodeJob, recognition: Recognition | None) -> None:
        text = recognition.text if recognition else ""
        confidence = recognition.confidence if recognition else 0.0
        self._results.put_nowait(Transcript(text, True, job.speech_final, confidence, job.start_s, job.end_s))
