"""Text as a phone voice should say it: no markdown, URLs and emails spoken, prices, times and
percentages read naturally. Digits are kept — the TTS engines read numbers themselves.
"""

from __future__ import annotations

import re
import unicodedata

_CURRENCY_NAMES = {"$": ("dollars", "cents"), "€": ("euros", "cents"), "£": ("pounds", "pence")}
_SCALE = {"k": "thousand", "m": "million", "mm": "million", "b": "billion", "bn": "billion"}
_PER_UNITS = {"mo": "month", "yr": "year", "hr": "hour", "wk": "week", "min": "minute", "ea": "each"}
_TLDS = r"com|io|net|org|co|ai|dev|app|us|uk|de|info|biz|tech|so|ly|me|tv|cloud|eu|ca|au"

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)\)")
_MD_CODE_FENCE = re.compile(r"```[a-zA-Z0-9]*")
_MD_HEADER = re.compile(r"(?m)^\s{0,3}#{1,6}\s*")
_MD_BULLET = re.compile(r"(?m)^\s*(?:[-*+•]|\d{1,2}[.)])\s+")
_MD_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~|`)")
_MD_QUOTE = re.compile(r"(?m)^\s*>\s?")
_MD_RULE = re.compile(r"(?m)^\s*(?:[-*_]\s*){3,}$")
_TABLE_PIPE = re.compile(r"[ \t]*\|[ \t]*")
_TABLE_RULE = re.compile(r"(?m)^[ \t]*\|?(?:[ \t]*:?-{2,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*$")
_TABLE_EDGE = re.compile(r"(?m)^[ \t]*\|[ \t]*|[ \t]*\|[ \t]*$")
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_URL = re.compile(
    r"\b(?:https?://)?(?:www\.)?((?:[A-Za-z0-9-]+\.)+(?:"
    + _TLDS
    + r"))\b((?:/[A-Za-z0-9._~%!$&'()*+,;=:@-]*)*)"
    r"(?:\?\S*)?",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?:\s?(k|mm|m|bn|b)\b|\s(thousand|million|billion)\b)?"
    r"((?:\s?/\s?[A-Za-z]+)*)",
    re.IGNORECASE,
)
_PER_WORD = re.compile(
    r"(?<=[A-Za-z0-9])\s?/\s?(month|mo|year|yr|user|seat|hour|hr|week|wk|day|person|minute|min|"
    r"call|license|agent|rep|team|month)\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?([ap])(?:\.\s?m\.|m\b)", re.IGNORECASE)
_PERCENT = re.compile(r"(\d)\s?%")
_TIME_RANGE = re.compile(
    r"\b(\d{1,2}(?::\d{2})?\s?(?:am|pm)?)\s?[-–]\s?(\d{1,2}(?::\d{2})?\s?(?:am|pm))\b", re.IGNORECASE
)
_NUMBER_RANGE = re.compile(r"(?<![\d/-])\b(\d+)\s?[-–]\s?(\d+)\b(?![-/]\d)")
_ABBREVIATIONS = (
    (re.compile(r"\be\.g\.,?", re.IGNORECASE), "for example"),
    (re.compile(r"\bi\.e\.,?", re.IGNORECASE), "that is"),
    (re.compile(r"\betc\.", re.IGNORECASE), "et cetera."),
    (re.compile(r"\bvs\.?(?=\s)", re.IGNORECASE), "versus"),
    (re.compile(r"\bapprox\.", re.IGNORECASE), "approximately"),
    (re.compile(r"\b24/7\b"), "24 7"),
    (re.compile(r"\bw/(?=\s)"), "with"),
    (re.compile(r"(?<=\s)&(?=\s)"), "and"),
    (re.compile(r"(?<=\w)&(?=\w)"), " and "),
    (re.compile(r"(?<=\d)\+(?=\s|$)"), " plus"),
    (re.compile(r"#(?=\d)"), "number "),
    (re.compile(r"~(?=\s?\d)"), "about "),
    (re.compile(r"\s[—–]\s|—"), ", "),
)


def _speak_domain(domain: str) -> str:
    return " dot ".join(part for part in domain.lower().split(".") if part)


def _speak_url(match: re.Match[str]) -> str:
    spoken = _speak_domain(match.group(1))
    path = [part for part in (match.group(2) or "").split("/") if part]
    for part in path:
        words = re.sub(r"[-_.]+", " ", part).strip()
        if words:
            spoken += " slash " + words
    return spoken


def _speak_email(match: re.Match[str]) -> str:
    user = re.sub(
        r"[._-]", lambda m: {".": " dot ", "_": " underscore ", "-": " dash "}[m.group(0)], match.group(1)
    )
    return f"{user} at {_speak_domain(match.group(2))}"


def _speak_price(match: re.Match[str]) -> str:
    symbol, whole, cents, short_scale, long_scale, per = match.groups()
    unit, minor_unit = _CURRENCY_NAMES[symbol]
    scale = _SCALE.get((short_scale or "").lower()) or (long_scale or "").lower()
    if scale:
        amount = f"{whole}.{cents}" if cents else whole
        spoken = f"{amount} {scale} {unit}"
    elif cents and int(cents) > 0:
        spoken = f"{whole} {unit} and {cents.ljust(2, '0')} {minor_unit}"
    else:
        spoken = f"{whole} {unit}"
    for part in re.findall(r"[A-Za-z]+", per or ""):
        spoken += " per " + _PER_UNITS.get(part.lower(), part)
    return spoken


def _speak_clock(match: re.Match[str]) -> str:
    hour, minute, half = match.groups()
    time = f"{hour}:{minute}" if minute and minute != "00" else hour
    rest = match.string[match.end() :]
    # "p.m." swallowed a full stop that also ended the sentence
    ends_sentence = match.group(0).endswith(".") and (not rest.strip() or re.match(r"\s+[A-Z]", rest))
    return f"{time} {half.lower()}m" + ("." if ends_sentence else "")


def _end_lines(text: str) -> str:
    """A heading or list item ends where its line ends; give the voice a full stop there."""
    if "\n" not in text:
        return text
    lines = [line.strip() for line in text.splitlines()]
    ended = [line if line[-1] in ".!?,;:" else line + "." for line in lines if line]
    return " ".join(ended) + (" " if text.endswith("\n") else "")


def clean_for_speech(text: str) -> str:
    """Everything a TTS engine should not read literally, rewritten; whitespace collapsed."""
    if not text:
        return ""
    out = _MD_CODE_FENCE.sub(" ", text)
    out = _MD_LINK.sub(lambda m: m.group(1) or m.group(2), out)
    out = _MD_RULE.sub(" ", out)
    out = _MD_HEADER.sub("", out)
    out = _MD_QUOTE.sub("", out)
    out = _MD_BULLET.sub("", out)
    if "|" in out:
        out = _TABLE_PIPE.sub(", ", _TABLE_EDGE.sub("", _TABLE_RULE.sub("", out)))
    out = _end_lines(out)
    out = _MD_EMPHASIS.sub("", out)
    out = re.sub(r"(?<!\w)_(\w[^_]*)_(?!\w)", r"\1", out)
    out = _EMAIL.sub(_speak_email, out)
    out = _PRICE.sub(_speak_price, out)
    out = _TIME_RANGE.sub(r"\1 to \2", out)
    out = _CLOCK.sub(_speak_clock, out)
    out = _PERCENT.sub(r"\1 percent", out)
    out = _URL.sub(_speak_url, out)
    for pattern, spoken in _ABBREVIATIONS:
        out = pattern.sub(spoken, out)
    out = _PER_WORD.sub(lambda m: " per " + _PER_UNITS.get(m.group(1).lower(), m.group(1)), out)
    out = _NUMBER_RANGE.sub(r"\1 to \2", out)
    out = "".join(ch for ch in out if unicodedata.category(ch) not in ("So", "Cs", "Co"))
    out = re.sub(r"\s+([,.!?;:])", r"\1", out)
    out = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", out)
    return " ".join(out.split())


_SENTENCE_END = re.compile(r"[.!?;:](?=\s)|\n")


class SpeechTextStream:
    """Turns LLM text deltas into cleaned speakable fragments.

    Text is held back until a sentence or line ends (or ``max_words`` have gathered) so multi-word
    constructs — links, "$49 / user", bullet lines — are cleaned whole.
    """

    def __init__(self, max_words: int = 12) -> None:
        self._buffer = ""
        self._max_words = max_words

    def feed(self, delta: str) -> str:
        self._buffer += delta
        cut = -1
        for match in _SENTENCE_END.finditer(self._buffer):
            cut = match.end()
        if cut < 0 and len(self._buffer.split()) > self._max_words:
            last_space = self._buffer.rstrip().rfind(" ")
            cut = last_space if last_space > 0 else -1
        if cut <= 0:
            return ""
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return self._speakable(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._speakable(ready)

    @staticmethod
    def _speakable(text: str) -> str:
        cleaned = clean_for_speech(text)
        return cleaned + " " if cleaned else ""
