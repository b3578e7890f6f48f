"""Streamed LLM text → speakable sentences, so the first sentence reaches TTS before the LLM is done."""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd", "jr", "sr", "no", "approx",
}
_BOUNDARY = re.compile(r"([.!?…]+)[\"')\]]*\s+")


class SentenceSplitter:
    """Feed text fragments; get back complete sentences. A very long clause is cut at a comma so the
    caller does not wait for the end of a run-on sentence."""

    def __init__(self, max_words_before_comma_split: int = 18) -> None:
        self._buffer = ""
        self._max_words = max_words_before_comma_split

    def feed(self, fragment: str) -> list[str]:
        self._buffer += fragment
        sentences: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            sentence, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if sentence:
                sentences.append(sentence)
        return sentences

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        for match in _BOUNDARY.finditer(self._buffer):
            before = self._buffer[: match.start()]
            last_word = before.rsplit(None, 1)[-1].lower() if before.strip() else ""
            if match.group(1) == "." and (last_word in _ABBREVIATIONS or _is_decimal_context(before, match)):
                continue
            return match.end()
        words = self._buffer.split()
        if len(words) > self._max_words:
            comma = self._buffer.rfind(", ")
            if comma > 0 and len(self._buffer[:comma].split()) >= 6:
                return comma + 2
        return None


def _is_decimal_context(before: str, match: re.Match[str]) -> bool:
    # "3. " at the start of a list item or "v2. " — keep short numeric tokens attached.
    last = before.rsplit(None, 1)[-1] if before.strip() else ""
    return len(last) == 1 and last.isdigit()
