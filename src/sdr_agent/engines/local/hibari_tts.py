"""Text-to-speech with hibari (ONNX, 24 kHz), one model per voice per process, synthesis off the event loop.

hibari synthesises one sentence (or clause, for long ones) at a time; each is cut into chunks of at most
``CHUNK_MS`` so playback can begin while later chunks are still being handed over. Voices are never
downloaded: only the voice inside the wheel ("heart") and voices already in hibari's cache can be used;
anything else (an ElevenLabs voice id, a missing voice) falls back to the default voice with a warning.

Every synthesis of the process runs on one ``FairWorker`` thread (onnxruntime with one intra-op thread:
on 2 cores the other core belongs to Whisper and the event loop). Jobs are pieces, so a long reply never
holds the thread for more than one sentence or clause, and the first piece of a reply — the caller is
waiting in silence for it — goes before later sentences of other calls, which are synthesised while
earlier ones play. A reply is the asyncio task that calls ``synthesize`` (the speaker runs one per agent
turn): its first ``synthesize`` call is urgent, the rest are not.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

from sdr_agent.audio.resample import float_to_pcm
from sdr_agent.engines.base import EngineError, SynthesizedAudio
from sdr_agent.engines.local.cpu_threads import limit_blas_threads
from sdr_agent.engines.local.fair_worker import FairWorker, Priority
from sdr_agent.settings import TTSSettings

log = logging.getLogger(__name__)

HIBARI_RATE = 24000
CHUNK_MS = 200
DEFAULT_VOICE = "heart"
MIN_SPEED, MAX_SPEED = 0.5, 2.0
WARM_UP_TEXT = "Hello, this is a test."
# Locale names people put in config for "the default voice of that accent".
VOICE_ALIASES = {"en-us": "heart", "en": "heart", "default": "heart", "en-gb": "emma"}

_models: dict[str, Any] = {}
_models_lock = threading.Lock()
_warned: set[str] = set()
Job = Callable[[], Any]


def _run_jobs(jobs: Sequence[Job]) -> list[Any]:
    out: list[Any] = []
    for job in jobs:
        try:
            out.append(job())
        except Exception as exc:
            out.append(exc)
    return out


# One synthesis at a time per process: the model and the G2P are not shared across threads concurrently.
worker: FairWorker[Job, Any] = FairWorker("hibari", _run_jobs)
# Replies (tasks) that already had their urgent first piece.
_started_replies: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def available_voices() -> list[str]:
    """Voices usable offline: the bundled one plus any already in hibari's cache."""
    from hibari.voices import VOICES, voice_path

    usable = []
    for name in VOICES:
        try:
            voice_path(name, download_missing=False)
        except FileNotFoundError:
            continue
        usable.append(name)
    return usable


def resolve_voice(requested: str | None, default: str = DEFAULT_VOICE) -> str:
    """Map a requested voice (name, alias, or foreign id) to one that can be loaded here."""
    name = (requested or default).strip().lower()
    name = VOICE_ALIASES.get(name, name)
    if name in available_voices():
        return name
    fallback = VOICE_ALIASES.get(default.lower(), default.lower())
    if fallback not in available_voices():
        fallback = DEFAULT_VOICE
    if name not in _warned:
        _warned.add(name)
        log.warning("hibari voice %r is not available offline; using %r", requested, fallback)
    return fallback


def _model(voice: str) -> Any:
    with _models_lock:
        model = _models.get(voice)
        if model is None:
            from hibari import Hibari

            limit_blas_threads()

            try:
                model = _models[voice] = Hibari(voice=voice)
            except Exception as exc:
                raise EngineError(f"could not load hibari voice {voice!r}: {exc}") from exc
        return model


def _phonemize(voice: str, text: str) -> list[str]:
    return list(_model(voice).phonemize(text))


def _first_piece(voice: str, text: str, speed: float) -> tuple[list[str], bytes]:
    """Phonemes of the whole text and the audio of its first piece, in one job: the first audio of a
    sentence never waits for another call's piece between the two steps."""
    pieces = _phonemize(voice, text)
    return pieces, (_synthesize_piece(voice, pieces[0], speed, 0) if pieces else b"")


def _reply_priority() -> tuple[object, Priority]:
    """(owner, priority) of a new sentence: the calling task is the reply; its first sentence is urgent."""
    task = asyncio.current_task()
    if task is None:
        return object(), Priority.URGENT
    if task in _started_replies:
        return task, Priority.LATER
    _started_replies.add(task)
    return task, Priority.URGENT


def _synthesize_piece(voice: str, phonemes: str, speed: float, seed: int) -> bytes:
    model = _model(voice)
    audio = model.from_ids(model.ids(phonemes), speed, np.random.default_rng(seed))
    return float_to_pcm(np.asarray(audio, dtype=np.float32)).astype("<i2").tobytes()


class HibariTTS:
    """``TextToSpeech`` with hibari. The same text always gives the same audio (fixed noise seed)."""

    name = "hibari"

    def __init__(self, settings: TTSSettings | None = None) -> None:
        settings = settings or TTSSettings()
        if not MIN_SPEED <= settings.speed <= MAX_SPEED:
            raise ValueError(f"tts.speed must be within {MIN_SPEED}..{MAX_SPEED}, not {settings.speed}")
        self.speed = settings.speed
        self.default_voice = settings.voice

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        text = text.strip()
        if not text:
            return
        chosen = resolve_voice(voice or self.default_voice, self.default_voice)
        owner, priority = _reply_priority()
        speed = self.speed
        try:
            first = functools.partial(_first_piece, chosen, text, speed)
            pieces, pcm = await worker.run(owner, first, priority)
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"hibari could not read {text[:40]!r}: {exc}") from exc
        chunk_bytes = 2 * HIBARI_RATE * CHUNK_MS // 1000
        for index, phonemes in enumerate(pieces):
            if index:
                try:
                    pcm = await worker.run(
                        owner, functools.partial(_synthesize_piece, chosen, phonemes, speed, index),
                        Priority.LATER,
                    )
                except EngineError:
                    raise
                except Exception as exc:
                    raise EngineError(f"hibari synthesis failed: {exc}") from exc
            # A consumer that closes the generator stops here, before the next piece is synthesised.
            for start in range(0, len(pcm), chunk_bytes):
                yield SynthesizedAudio(pcm[start : start + chunk_bytes], HIBARI_RATE)

    async def warm_up(self) -> None:
        """Load the default voice and synthesise one phrase, so the first sentence of a call is not slow."""
        async for _chunk in self.synthesize(WARM_UP_TEXT):
            pass
