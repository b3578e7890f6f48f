"""Scripted, deterministic, fast engines for tests of the call loop (no models, no threads, no network).

How a scripted-timeline test uses them:

* Caller audio is made with :func:`voiced_signal` / :func:`marker_speech`: a harmonic "voice" with a syllable
  envelope at about -12 dBFS. :class:`FakeVAD` and :class:`FakeSTT` call a 20 ms chunk speech when its RMS is
  at least ``speech_rms`` (600 by default; a -12 dBFS voice is ~2000, so -12 dB of echo attenuation still
  counts as speech, -20 dB does not). Real VADs disagree: Silero scores this synthetic voice near 0.05,
  which is why timeline tests use FakeVAD.
* :class:`FakeSTT` turns each caller *utterance* (the audio between two ``finalize()``/``clear()`` calls)
  into one line of text. Script mode, ``FakeSTT(["uh-huh", "I want a demo"])``: the first utterance that
  reaches ``claim_after_ms`` of speech takes the next line of the script (consumed even if the utterance is
  later cleared, so a backchannel the pipeline throws away does not shift the script); once it has
  ``partial_after_ms`` of speech a partial with its first ``partial_words`` word(s) is emitted, and
  ``finalize()`` emits the final (is_final and speech_final). An utterance with too little speech finalises
  to "". Marker mode, ``FakeSTT(markers={300.0: "uh-huh", 450.0: "tell me more"})``: the text is chosen by
  the fundamental frequency of the utterance's voiced audio (within 5 %), so multi-utterance timelines
  stay unambiguous whatever the pipeline clears or finalises; unmatched audio finalises to "".
  Results are produced synchronously inside ``send``/``finalize``, so no test waits on a clock.
* :class:`FakeTTS` returns the same kind of voice, ``ms_per_char`` per character (at least ``min_ms``),
  in ``chunk_ms`` chunks, optionally after ``delay_s``, or raises for text containing ``fail_on``.
* :class:`FakeLLM` streams scripted replies word by word (a list consumed one reply per ``stream()`` call,
  or a function of the last user message), and can emit tool calls or raise (:class:`FakeReply`).
* :class:`FakeEmbedder` is a hashing bag-of-words embedder: texts sharing words are near each other.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from sdr_agent.audio.resample import rms
from sdr_agent.engines.base import (
    PCM16,
    AudioFrame,
    EngineError,
    LLMEvent,
    LLMFinished,
    LLMRequest,
    SynthesizedAudio,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Transcript,
    Vector,
)

DEFAULT_SPEECH_RMS = 600.0
VOICE_PEAK = 0.25  # -12 dBFS
_WORD = re.compile(r"\S+")


# ------------------------------------------------------------------ signals
def voiced_signal(
    f0_hz: float, duration_ms: float, sample_rate: int = 8000, peak: float = VOICE_PEAK
) -> PCM16:
    """A voice-like test signal: harmonics of ``f0_hz`` (1/k amplitudes) under a 4 Hz syllable envelope that
    never drops below 40 %, with 10 ms fades, scaled to ``peak`` (fraction of full scale)."""
    n = round(sample_rate * duration_ms / 1000.0)
    if n <= 0:
        return np.zeros(0, dtype=np.int16)
    t = np.arange(n) / sample_rate
    harmonics = [k for k in range(1, 16) if k * f0_hz < 0.45 * sample_rate]
    wave = sum((np.sin(2 * np.pi * k * f0_hz * t) / k for k in harmonics), np.zeros(n))
    envelope = 0.4 + 0.6 * np.abs(np.sin(np.pi * 4.0 * t + np.pi / 2))
    fade = min(n // 2, sample_rate // 100)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        envelope[:fade] *= ramp
        envelope[-fade:] *= ramp[::-1]
    shaped = wave * envelope
    top = float(np.max(np.abs(shaped))) or 1.0
    return np.asarray(np.round(shaped / top * peak * 32767.0), dtype=np.int16)


def marker_speech(f0_hz: float, duration_ms: float, sample_rate: int = 8000) -> PCM16:
    """Caller audio that marker-mode :class:`FakeSTT` recognises by its fundamental ``f0_hz``."""
    return voiced_signal(f0_hz, duration_ms, sample_rate)


def dominant_frequency(pcm: PCM16, sample_rate: int) -> float:
    """Frequency of the strongest spectral peak between 50 Hz and Nyquist (0.0 for silence)."""
    if len(pcm) < 32 or not np.any(pcm):
        return 0.0
    samples = pcm.astype(np.float64) * np.hanning(len(pcm))
    size = max(8192, 1 << int(np.ceil(np.log2(len(pcm)))))
    spectrum = np.abs(np.fft.rfft(samples, size))
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    spectrum[freqs < 50.0] = 0.0
    return float(freqs[int(np.argmax(spectrum))])


# ------------------------------------------------------------------ STT
class FakeSTT:
    """Scripted ``SpeechToText``; see the module docstring for the two modes."""

    name = "fake-stt"

    def __init__(
        self,
        transcripts: Iterable[str] = (),
        *,
        markers: Mapping[float, str] | None = None,
        partial_after_ms: float = 200.0,
        claim_after_ms: float = 100.0,
        partial_words: int = 1,
        speech_rms: float = DEFAULT_SPEECH_RMS,
        fail_with: Exception | None = None,
        partials: Mapping[str, str] | None = None,
    ) -> None:
        self.script: deque[str] = deque(transcripts)
        # line → its partial, where the early decode heard otherwise than the final (Whisper's decode of a
        # whole utterance can drop a clipped first word that the partial had: "Sorry" in "Sorry, can I").
        self.partials = dict(partials or {})
        self.markers = dict(markers or {})
        self.partial_after_ms = partial_after_ms
        self.claim_after_ms = min(claim_after_ms, partial_after_ms)
        self.partial_words = partial_words
        self.speech_rms = speech_rms
        self.fail_with = fail_with  # finalize() delivers this error through results() instead of a final
        self.streams: list[FakeSTTStream] = []

    def text_for(self, voiced: PCM16, sample_rate: int) -> str:
        """Marker mode: the text whose marker frequency is within 5 % of the audio's fundamental."""
        if not self.markers:
            return self.script.popleft() if self.script else ""
        found = dominant_frequency(voiced, sample_rate)
        best = min(self.markers, key=lambda f: abs(f - found))
        return self.markers[best] if abs(best - found) <= 0.05 * best else ""

    async def open_stream(self) -> FakeSTTStream:
        stream = FakeSTTStream(self)
        self.streams.append(stream)
        return stream

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        voiced = _voiced_part(pcm, sample_rate, self.speech_rms)
        return self.text_for(voiced, sample_rate) if len(voiced) else ""


def _voiced_part(pcm: PCM16, sample_rate: int, threshold: float) -> PCM16:
    frame = max(1, sample_rate // 50)
    chunks = [pcm[i : i + frame] for i in range(0, len(pcm), frame)]
    voiced = [c for c in chunks if rms(c) >= threshold]
    return np.concatenate(voiced) if voiced else np.zeros(0, dtype=np.int16)


class FakeSTTStream:
    def __init__(self, engine: FakeSTT) -> None:
        self.engine = engine
        self.emitted: list[Transcript] = []
        self.sent_ms = 0.0
        self.finalize_count = 0
        self.clear_count = 0
        self._results: asyncio.Queue[Transcript | Exception | None] = asyncio.Queue()
        self._rate = 8000
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._speech_ms = 0.0
        self._voiced: list[PCM16] = []
        self._text: str | None = None
        self._partial_sent = False
        self._start_s = self.sent_ms / 1000.0

    def _emit(self, item: Transcript) -> None:
        self.emitted.append(item)
        self._results.put_nowait(item)

    async def send(self, frame: AudioFrame) -> None:
        self.sent_ms += frame.duration_ms
        if rms(frame.pcm) < self.engine.speech_rms:
            return
        self._rate = frame.sample_rate
        if self._speech_ms == 0.0:
            self._start_s = (self.sent_ms - frame.duration_ms) / 1000.0  # starts at its first voiced frame
        self._speech_ms += frame.duration_ms
        self._voiced.append(frame.pcm)
        if self._text is None and self._speech_ms >= self.engine.claim_after_ms and not self.engine.markers:
            self._text = self.engine.text_for(frame.pcm, frame.sample_rate)
        if not self._partial_sent and self._speech_ms >= self.engine.partial_after_ms:
            self._partial_sent = True
            text = self._current_text(frame.sample_rate)
            words = _WORD.findall(self.engine.partials.get(text, text))[: self.engine.partial_words]
            if words:
                self._emit(Transcript(" ".join(words), False, False, 0.9, self._start_s, self.sent_ms / 1000))

    def _current_text(self, sample_rate: int) -> str:
        if self.engine.markers and self._voiced:
            # Re-identified as more audio arrives; the marker is the same all along in a well-formed test.
            self._text = self.engine.text_for(np.concatenate(self._voiced), sample_rate)
        return self._text or ""

    async def finalize(self) -> None:
        self.finalize_count += 1
        if self.engine.fail_with is not None:
            self._results.put_nowait(self.engine.fail_with)
        else:
            text = self._current_text(self._rate) if self._speech_ms >= self.engine.claim_after_ms else ""
            self._emit(Transcript(text, True, True, 1.0 if text else 0.0, self._start_s, self.sent_ms / 1000))
        self._reset_utterance()

    async def clear(self) -> None:
        self.clear_count += 1
        self._reset_utterance()

    async def results(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._results.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def aclose(self) -> None:
        self._results.put_nowait(None)


# ------------------------------------------------------------------ TTS
class FakeTTS:
    """``TextToSpeech`` producing :func:`voiced_signal` audio whose length is proportional to the text."""

    name = "fake-tts"

    def __init__(
        self,
        *,
        sample_rate: int = 8000,
        ms_per_char: float = 60.0,
        min_ms: float = 300.0,
        chunk_ms: float = 200.0,
        f0_hz: float = 150.0,
        delay_s: float = 0.0,
        fail_on: str | None = None,
        fail_with: Exception | None = None,
    ) -> None:
        if chunk_ms <= 0 or sample_rate <= 0:
            raise ValueError("chunk_ms and sample_rate must be positive")
        self.sample_rate = sample_rate
        self.ms_per_char = ms_per_char
        self.min_ms = min_ms
        self.chunk_ms = chunk_ms
        self.f0_hz = f0_hz
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.fail_with = fail_with
        self.calls: list[tuple[str, str | None]] = []
        self.warm_ups = 0

    def duration_ms(self, text: str) -> float:
        return max(self.min_ms, self.ms_per_char * len(text.strip()))

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        self.calls.append((text, voice))
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on.lower() in text.lower():
            raise self.fail_with or EngineError(f"FakeTTS scripted failure on {text!r}")
        if not text.strip():
            return
        audio = voiced_signal(self.f0_hz, self.duration_ms(text), self.sample_rate).astype("<i2").tobytes()
        step = 2 * int(self.sample_rate * self.chunk_ms / 1000)
        for start in range(0, len(audio), step):
            yield SynthesizedAudio(audio[start : start + step], self.sample_rate)
            await asyncio.sleep(0)

    async def warm_up(self) -> None:
        self.warm_ups += 1


# ------------------------------------------------------------------ LLM
@dataclass(frozen=True, slots=True)
class FakeReply:
    """One scripted LLM answer: words, then tool calls; or an error after ``error_after_words`` words."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    error: Exception | None = None
    error_after_words: int = 0


ReplyScript = Sequence[str | FakeReply] | Callable[[str], str | FakeReply]


@dataclass
class FakeLLM:
    """Scripted ``LanguageModel``. A list is consumed one reply per ``stream()`` call (tool follow-ups
    included); when it runs out, ``default_reply`` is used. A callable gets the last user message."""

    replies: ReplyScript = ()
    token_delay_s: float = 0.0
    first_token_delay_s: float = 0.0
    default_reply: str = "Okay."
    name: str = "fake-llm"
    requests: list[LLMRequest] = field(default_factory=list)
    _queue: deque[str | FakeReply] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if not callable(self.replies):
            self._queue.extend(self.replies)

    def add_replies(self, *replies: str | FakeReply) -> None:
        self._queue.extend(replies)

    def _next_reply(self, request: LLMRequest) -> FakeReply:
        if callable(self.replies):
            user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
            reply = self.replies(user)
        else:
            reply = self._queue.popleft() if self._queue else self.default_reply
        return reply if isinstance(reply, FakeReply) else FakeReply(text=reply)

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        self.requests.append(request)
        reply = self._next_reply(request)
        if self.first_token_delay_s > 0:
            await asyncio.sleep(self.first_token_delay_s)
        for index, word in enumerate(_WORD.findall(reply.text)):
            if reply.error is not None and index >= reply.error_after_words:
                raise reply.error
            yield TextDelta(word if index == 0 else " " + word)
            await asyncio.sleep(self.token_delay_s)
        if reply.error is not None:
            raise reply.error
        for call in reply.tool_calls:
            yield ToolCallDelta(call)
        yield LLMFinished("tool_calls" if reply.tool_calls else "stop")


# ------------------------------------------------------------------ VAD
class FakeVAD:
    """Energy VAD: 1.0 when the chunk's RMS is at least ``threshold_rms``, else 0.0."""

    def __init__(self, threshold_rms: float = DEFAULT_SPEECH_RMS, sample_rate: int = 8000) -> None:
        self.threshold_rms = threshold_rms
        self.sample_rate = sample_rate

    def speech_probability(self, pcm: PCM16) -> float:
        return 1.0 if len(pcm) and rms(pcm) >= self.threshold_rms else 0.0

    def reset(self) -> None:
        return None


# ------------------------------------------------------------------ end of turn
class FakeTurnDetector:
    """Scripted ``TurnDetector``: the next probability per probe (the last one repeats), after
    ``latency_s`` (a real model takes 60-115 ms); records the audio length of each probe."""

    def __init__(self, probabilities: Iterable[float], latency_s: float = 0.1) -> None:
        self.script: deque[float] = deque(probabilities)
        self.latency_s = latency_s
        self.probes_ms: list[float] = []

    async def complete_probability(self, pcm: PCM16, sample_rate: int) -> float:
        self.probes_ms.append(1000.0 * len(pcm) / sample_rate)
        await asyncio.sleep(self.latency_s)
        return self.script.popleft() if len(self.script) > 1 else self.script[0]


# ------------------------------------------------------------------ embeddings
class FakeEmbedder:
    """Hashing bag of words (unigrams, and bigrams at half weight), L2-normalised; empty text → unit e0."""

    name = "fake-embedder"

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 2:
            raise ValueError("dimension must be at least 2")
        self.dimension = dimension

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
        return digest % self.dimension, 1.0 if (digest >> 63) & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> Vector:
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())
            features = [(w, 1.0) for w in words] + [(f"{a} {b}", 0.5) for a, b in pairwise(words)]
            for token, weight in features:
                index, sign = self._bucket(token)
                matrix[row, index] += sign * weight
            norm = float(np.linalg.norm(matrix[row]))
            if norm == 0.0:
                matrix[row, 0] = 1.0
            else:
                matrix[row] /= norm
        return matrix
