"""Keeps a fallback LLM from repeating what the caller already heard from the engine that failed."""

from __future__ import annotations

import re

_WORD = re.compile(r"\S+")


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


class RepeatFilter:
    """Withholds the fallback's opening words while they match what was already said; once they cover it,
    only the rest passes. If the fallback says something different, everything passes (a restart)."""

    def __init__(self, already_said: str) -> None:
        self._said = [_norm(w) for w in _WORD.findall(already_said)]
        self._said = [w for w in self._said if w]
        self._buffer = ""
        self._passing = not self._said

    def feed(self, text: str) -> str:
        if self._passing:
            return text
        self._buffer += text
        words = list(_WORD.finditer(self._buffer))
        complete = words if self._buffer[-1:].isspace() else words[:-1]
        matched = 0
        for match in complete:
            word = _norm(match.group())
            if not word:
                continue
            if word != self._said[matched]:
                return self._release(0)
            matched += 1
            if matched == len(self._said):
                return self._release(match.end())
        return ""

    def _release(self, cut: int) -> str:
        self._passing = True
        rest = self._buffer[cut:]
        self._buffer = ""
        return rest
