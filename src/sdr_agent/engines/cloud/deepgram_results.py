"""Turns Deepgram listen messages into the pipeline's partial and final transcripts.

Deepgram finalises an utterance in segments: ``is_final`` segments accumulate until ``speech_final``
(endpoint), an ``UtteranceEnd`` or a ``from_finalize`` result closes the utterance. The pipeline wants one
final per caller utterance, so segments are joined here: every interim and every non-closing ``is_final``
segment becomes a partial carrying the whole utterance so far, and the closing message becomes one
``Transcript(is_final=True, speech_final=True)`` with the whole utterance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sdr_agent.engines.base import EngineError, Transcript

MessageKind = Literal["Results", "UtteranceEnd", "SpeechStarted", "Metadata", "Other"]


@dataclass(frozen=True, slots=True)
class ListenMessage:
    kind: MessageKind
    text: str = ""
    is_final: bool = False
    speech_final: bool = False
    from_finalize: bool = False
    start_s: float = 0.0
    duration_s: float = 0.0
    confidence: float = 1.0
    words_end_s: float | None = None  # end of the last recognised word (the result may span silence after it)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def speech_end_s(self) -> float:
        return self.end_s if self.words_end_s is None else self.words_end_s


def parse_listen_message(raw: str) -> ListenMessage:
    """Parse one text frame; a frame that is not a JSON object is a broken server (``EngineError``)."""
    try:
        payload: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EngineError(f"Deepgram sent a frame that is not JSON: {raw[:80]!r}") from exc
    if not isinstance(payload, dict):
        raise EngineError(f"Deepgram sent a JSON frame that is not an object: {raw[:80]!r}")
    kind = payload.get("type")
    if kind == "Results":
        return _parse_results(payload)
    if kind in ("UtteranceEnd", "SpeechStarted", "Metadata"):
        return ListenMessage(kind=kind)
    return ListenMessage(kind="Other")


def _parse_results(payload: dict[str, Any]) -> ListenMessage:
    channel = payload.get("channel")
    alternatives = channel.get("alternatives") if isinstance(channel, dict) else None
    best = alternatives[0] if isinstance(alternatives, list) and alternatives else {}
    if not isinstance(best, dict):
        raise EngineError("Deepgram Results message has a malformed alternative")
    words = best.get("words")
    last_word = words[-1] if isinstance(words, list) and words and isinstance(words[-1], dict) else None
    return ListenMessage(
        kind="Results",
        text=str(best.get("transcript") or "").strip(),
        is_final=bool(payload.get("is_final", False)),
        speech_final=bool(payload.get("speech_final", False)),
        from_finalize=bool(payload.get("from_finalize", False)),
        start_s=_number(payload.get("start")),
        duration_s=_number(payload.get("duration")),
        confidence=_number(best.get("confidence"), default=1.0),
        words_end_s=_number(last_word.get("end")) if last_word is not None else None,
    )


def _number(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


class UtteranceAssembler:
    """Accumulates final segments of the current caller utterance. ``offset_s`` shifts stream time across
    reconnects (Deepgram restarts its clock at zero on every connection)."""

    def __init__(self) -> None:
        self._segments: list[str] = []
        self._confidences: list[float] = []
        self._start_s: float | None = None
        self._end_s = 0.0

    @property
    def has_text(self) -> bool:
        return bool(self._segments)

    def reset(self) -> None:
        self._segments.clear()
        self._confidences.clear()
        self._start_s = None
        self._end_s = 0.0

    def on_results(self, message: ListenMessage, offset_s: float) -> Transcript | None:
        """A partial for interim and open segments, or the closing final; ``None`` when nothing is new."""
        start, end = offset_s + message.start_s, offset_s + message.end_s
        if not message.is_final:
            if not message.text:
                return None
            return Transcript(
                text=" ".join([*self._segments, message.text]),
                is_final=False,
                confidence=message.confidence,
                start_s=self._start_s if self._start_s is not None else start,
                end_s=end,
            )
        if message.text:
            self._segments.append(message.text)
            self._confidences.append(message.confidence)
            if self._start_s is None:
                self._start_s = start
            self._end_s = end
        if message.speech_final and self._segments:
            return self.close(force=False)
        if message.text:
            return Transcript(
                text=" ".join(self._segments),
                is_final=False,
                confidence=message.confidence,
                start_s=self._start_s if self._start_s is not None else start,
                end_s=end,
            )
        return None

    def close(self, *, force: bool) -> Transcript | None:
        """The utterance ended: the whole text as one final (an empty one only when ``force``)."""
        if not self._segments and not force:
            return None
        confidence = min(self._confidences) if self._confidences else 1.0
        final = Transcript(
            text=" ".join(self._segments),
            is_final=True,
            speech_final=True,
            confidence=confidence,
            start_s=self._start_s if self._start_s is not None else self._end_s,
            end_s=self._end_s,
        )
        self.reset()
        return final
