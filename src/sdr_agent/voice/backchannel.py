"""Decide from the first recognised words whether the caller is interrupting or just acknowledging."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import Enum

_WORD = re.compile(r"[a-z']+(?:-[a-z']+)*")


class WordsVerdict(Enum):
    NONE = "none"  # nothing recognisable yet
    BACKCHANNEL = "backchannel"
    ECHO = "echo"  # the agent's own words coming back
    INTERRUPTION = "interruption"


def normalise_words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def phrase_start(words: list[str], phrase: tuple[str, ...]) -> int:
    """Where ``phrase`` first starts in ``words``, or -1."""
    size = len(phrase)
    return next((i for i in range(len(words) - size + 1) if tuple(words[i : i + size]) == phrase), -1)


def contains_phrase(words: list[str], phrase: tuple[str, ...]) -> bool:
    return phrase_start(words, phrase) >= 0


class BackchannelClassifier:
    def __init__(self, backchannels: Iterable[str]) -> None:
        phrases = [tuple(normalise_words(p)) for p in backchannels]
        self._phrases = {p for p in phrases if p}
        self._max_len = max((len(p) for p in self._phrases), default=1)

    def _only_backchannels(self, words: list[str]) -> bool:
        i = 0
        while i < len(words):
            for size in range(min(self._max_len, len(words) - i), 0, -1):
                if tuple(words[i : i + size]) in self._phrases:
                    i += size
                    break
            else:
                return False
        return True

    def classify(self, text: str, agent_text: str = "") -> WordsVerdict:
        words = normalise_words(text)
        if not words:
            return WordsVerdict.NONE
        if self._only_backchannels(words):
            return WordsVerdict.BACKCHANNEL
        if agent_text and _mostly_contained(words, set(normalise_words(agent_text))):
            return WordsVerdict.ECHO
        return WordsVerdict.INTERRUPTION


def _mostly_contained(words: list[str], agent_words: set[str]) -> bool:
    if len(words) < 2 or not agent_words:
        return False
    inside = sum(1 for w in words if w in agent_words)
    return inside / len(words) >= 0.8


def syllable_peaks(levels_db: Sequence[float], swing_db: float = 5.0) -> int:
    """Syllable nuclei in a run of frame levels: peaks with a rise and a fall of ``swing_db`` around them.
    Four in the first 500 ms is running speech (8 a second); people's "mm-hmm", "right, right" have two."""
    if not levels_db:
        return 0
    peaks, rising, high, low = 0, True, levels_db[0], levels_db[0]
    for value in levels_db[1:]:
        if rising:
            high = max(high, value)
            if high - value >= swing_db:
                peaks, rising, low = peaks + 1, False, value
        else:
            low = min(low, value)
            if value - low >= swing_db:
                rising, high = True, value
    return peaks + (1 if rising and high - low >= swing_db else 0)

