"""Engine protocols. The voice pipeline and dialogue see engines only through these types.

Audio conventions: telephony audio is μ-law 8 kHz mono; PCM is signed 16-bit little-endian mono
held in ``numpy.int16`` arrays. Engines never import FastAPI, Twilio or storage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

PCM16 = NDArray[np.int16]
Vector = NDArray[np.float32]


class EngineError(RuntimeError):
    """An engine failed in a way the pipeline should survive (fallback line, fallback engine)."""


# ---------------------------------------------------------------- audio in
@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One inbound telephony frame (normally 20 ms), in both encodings so no engine decodes twice."""

    ulaw: bytes
    pcm: PCM16  # 8 kHz
    sample_rate: int = 8000

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.pcm) / self.sample_rate


# ---------------------------------------------------------------- STT
@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    is_final: bool  # this segment's text will not change
    speech_final: bool = False  # end of the caller's utterance (endpoint / Finalize)
    confidence: float = 1.0
    start_s: float = 0.0
    end_s: float = 0.0


class STTStream(Protocol):
    """A streaming recognition session for one call (or one caller utterance, engine's choice)."""

    async def send(self, frame: AudioFrame) -> None:
        """Feed audio as it arrives. Never blocks on recognition."""

    async def finalize(self) -> None:
        """The caller's turn ended: emit a final (speech_final=True) for buffered audio, even if empty."""

    async def clear(self) -> None:
        """Drop buffered audio without producing results (e.g. audio that was the agent's echo)."""

    def results(self) -> AsyncIterator[Transcript]:
        """Partials (is_final=False) and finals, in order."""
        ...

    async def aclose(self) -> None: ...


async def drain_transcripts(
    queue: asyncio.Queue[Transcript | EngineError | None],
) -> AsyncIterator[Transcript]:
    """An STT stream's results as the protocol's iterator: ``None`` ends it; an ``EngineError`` put on the
    queue is raised where the consumer reads, so a failing engine cannot fail silently."""
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, EngineError):
            raise item
        yield item


class SpeechToText(Protocol):
    name: str

    async def open_stream(self) -> STTStream: ...

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        """Batch recognition of a whole utterance (used by tests, bench and fallbacks)."""
        ...


# ---------------------------------------------------------------- TTS
@dataclass(frozen=True, slots=True)
class SynthesizedAudio:
    """A chunk of speech. ``encoding`` lets cloud engines hand over telephony-ready μ-law untouched."""

    data: bytes
    sample_rate: int
    encoding: Literal["pcm16", "mulaw"] = "pcm16"


class TextToSpeech(Protocol):
    name: str

    def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        """Stream audio for one sentence as it is produced. Closing the iterator cancels synthesis."""
        ...

    async def warm_up(self) -> None: ...


# ---------------------------------------------------------------- LLM
@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""  # exactly what the model sent, for error reports when it does not parse


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object


@dataclass(frozen=True, slots=True)
class ContextPassage:
    """A retrieved knowledge-base chunk, kept structured so a grounded responder can quote it."""

    text: str
    source_id: str
    document_name: str = ""
    score: float = 0.0


class ReplyAct(StrEnum):
    """What the dialogue decided this reply must do (the dialogue composes replies; engines phrase them)."""

    ANSWER = "answer"  # a question the knowledge base answers
    FOLLOW_UP = "follow_up"  # a question it does not: promise to follow up
    GREET = "greet"
    INTRODUCE = "introduce"  # who is calling and why
    OBJECTION = "objection"
    GATEKEEPER = "gatekeeper"
    ACKNOWLEDGE = "acknowledge"
    ASK_TIME = "ask_time"
    BOOK = "book"
    CLOSE = "close"
    TOOL_RESULT = "tool_result"
    RETRY_TOOL = "retry_tool"


@dataclass(frozen=True, slots=True)
class TurnBrief:
    """The dialogue's plan for one reply. ``draft`` is what it would say (a grounded engine says exactly
    that; a generative one may phrase it better, and finds the same in its system prompt); ``calls`` are tool
    calls the dialogue already decided on (a generative model makes its own)."""

    act: ReplyAct
    draft: tuple[str, ...] = ()
    calls: tuple[ToolCall, ...] = ()
    guidance: tuple[str, ...] = ()


@dataclass(slots=True)
class LLMRequest:
    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    context: list[ContextPassage] = field(default_factory=list)
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    brief: TurnBrief | None = None  # set on call turns; None for other uses (post-call analysis, probes)
    # Text a failed engine already streamed this turn; the fallback engine continues after it.
    already_said: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    call: ToolCall


@dataclass(frozen=True, slots=True)
class LLMFinished:
    finish_reason: str = "stop"


LLMEvent = TextDelta | ToolCallDelta | LLMFinished


class LanguageModel(Protocol):
    name: str

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        """Stream tokens and tool calls. Closing the iterator cancels generation."""
        ...


# ---------------------------------------------------------------- VAD
@runtime_checkable
class VoiceActivityDetector(Protocol):
    """Stateful per call: create one per CallSession through a ``VADFactory``."""

    sample_rate: int

    def speech_probability(self, pcm: PCM16) -> float:
        """Probability that this frame (any length; buffered internally) contains speech."""
        ...

    def reset(self) -> None: ...


VADFactory = Callable[[], VoiceActivityDetector]


# ---------------------------------------------------------------- end of turn (acoustic)
@runtime_checkable
class TurnDetector(Protocol):
    """Has the caller finished, judged from how the audio ends (intonation, a trailing breath), not words.

    Shared by all calls (stateless). A model is CPU-bound: implementations run it off the event loop.
    """

    async def complete_probability(self, pcm: PCM16, sample_rate: int) -> float:
        """Probability in [0, 1] that the turn is over; ``pcm`` is its audio and the pause after it."""
        ...


# ---------------------------------------------------------------- embeddings
class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vector:
        """L2-normalised float32 matrix of shape (len(texts), dimension)."""
        ...


async def close_quietly(iterator: AsyncIterator[object]) -> None:
    """Close a stream that is being abandoned (its consumer failed or moved on): a failure to close is
    logged, not raised over the error that is already being handled."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        logging.getLogger(__name__).debug("closing an abandoned stream failed", exc_info=True)
