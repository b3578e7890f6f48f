"""The caller's side of a turn: utterances (VAD segments) and their recognised text."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from sdr_agent.engines.base import PCM16
from sdr_agent.voice.backchannel import contains_phrase, normalise_words

TURN_AUDIO_S = 8.0  # what the acoustic end-of-turn model reads (Smart Turn v3: the last 8 s)


@dataclass(eq=False)
class Utterance:
    started_at: float
    ended_at: float | None = None
    partial: str = ""
    final: str | None = None
    discarded: bool = False
    over_agent: bool = False  # began while the agent was talking
    stop_words: str = ""  # the interruption words an early decode heard, which made the agent stop
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def resolve(self, text: str) -> None:
        self.final = text.strip()
        self.done.set()

    @property
    def text(self) -> str:
        if self.final is None:
            return self.partial
        return with_stop_words(self.final, self.stop_words)


def with_stop_words(final: str, stop_words: str) -> str:
    """The final, led by the words that stopped the agent when the final decode lost them."""
    if not stop_words:
        return final  # read on every held frame: the common case costs nothing
    phrase = tuple(normalise_words(stop_words))
    if not phrase or contains_phrase(normalise_words(final), phrase):
        return final
    said = stop_words[:1].upper() + stop_words[1:] + "."
    return f"{said} {final}" if final else said


@dataclass(eq=False)
class AcousticGuess:
    """The acoustic model's view of whether the turn is over, as of the voice that ended at ``voice_at``."""

    voice_at: float
    probability: float | None = None  # None: still running, or the model failed
    done: bool = False


@dataclass(eq=False)
class CallerTurn:
    utterances: list[Utterance] = field(default_factory=list)
    last_voice_at: float | None = None
    acoustic: AcousticGuess | None = None
    audio: deque[PCM16] = field(default_factory=deque)  # the turn's last TURN_AUDIO_S of 8 kHz audio
    _audio_samples: int = 0

    def add_audio(self, pcm: PCM16, sample_rate: int = 8000) -> None:
        self.audio.append(pcm)
        self._audio_samples += len(pcm)
        limit = int(TURN_AUDIO_S * sample_rate)
        while self.audio and self._audio_samples - len(self.audio[0]) >= limit:
            self._audio_samples -= len(self.audio.popleft())

    def audio_pcm(self) -> PCM16:
        return np.concatenate(list(self.audio)) if self.audio else np.zeros(0, np.int16)

    def current_guess(self) -> AcousticGuess | None:
        """The acoustic guess about the turn as it stands (one about an earlier pause is stale)."""
        guess = self.acoustic
        if guess is None or self.last_voice_at is None or guess.voice_at != self.last_voice_at:
            return None
        return guess

    @property
    def over_agent(self) -> bool:
        return bool(self.utterances) and all(u.over_agent for u in self.utterances)

    @property
    def started_at(self) -> float | None:
        return self.utterances[0].started_at if self.utterances else None

    def settled_text(self) -> str | None:
        """The turn's words once every utterance has its final (what ``text`` would return now), else None."""
        spoken = [u for u in self.utterances if not u.discarded]
        if not spoken or any(u.final is None for u in spoken):
            return None
        return " ".join(u.text for u in spoken if u.text).strip() or None

    async def text(self, timeout: float) -> str:
        """Joined finals of the turn's utterances (waits for outstanding finals, up to ``timeout``)."""
        pending = [asyncio.ensure_future(u.done.wait()) for u in self.utterances if not u.done.is_set()]
        if pending:
            try:
                await asyncio.wait(pending, timeout=timeout)
            finally:
                for waiter in pending:
                    waiter.cancel()
        parts = [u.text for u in self.utterances if not u.discarded and u.text]
        return " ".join(parts).strip()
