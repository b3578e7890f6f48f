"""Which Whisper outputs are speech and which are hallucinations on silence, noise or tones.

Measured with tiny.en through the telephony path (8 kHz, μ-law, back to 16 kHz), greedy decoding, without
faster-whisper's own thresholds (see bench/engines.py and tests/engines/test_whisper_filter.py):

================================  ============  ===========  ============================
input                             no_speech     avg_logprob  text
================================  ============  ===========  ============================
TTS speech, 0.6–2.7 s             0.04 – 0.20   -0.02 – -0.53  the words
TTS "uh-huh" (misheard)           0.15          -1.07        "It's hot."
digital silence, dither, breath   0.86 – 0.95   -1.0 – -1.35   "."
white noise -34 / -15 dBFS        0.91 – 0.95   -1.15 – -1.44  "." or "you"
1 kHz / 440 Hz tone, -13 dBFS     0.67 – 0.84   -1.70 – -1.88  "You", "It's a bit of a good idea."
mains hum, clicks                 0.78 – 0.96   -1.24 – -1.64  "." or "You"
================================  ============  ===========  ============================

So a segment is dropped when (1) Whisper itself thinks there is no speech and is unsure of its words
(no_speech_prob > 0.6 and avg_logprob < -0.8; real speech never came near 0.6), or (2) its words are very
unlikely whatever no_speech says (avg_logprob < -1.5: every tone/click hallucination, no real speech), or
(3) it repeats itself (compression_ratio > 2.4, Whisper's classic loop), or (4) it is one of the stock
phrases Whisper emits on near-silence ("you", "thank you.", "thanks for watching", ...) and either the audio
was quiet (active level below -45 dBFS) or no_speech_prob > 0.4. Text without a letter or digit is empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_SPEECH_PROB_MAX = 0.6
UNSURE_LOGPROB = -0.8
MIN_AVG_LOGPROB = -1.5
MAX_COMPRESSION_RATIO = 2.4
JUNK_NO_SPEECH_PROB = 0.4
QUIET_DBFS = -45.0

# Phrases Whisper is known to produce from silence or noise (subtitle credits, YouTube endings).
JUNK_PHRASES = frozenset(
    {
        "you",
        "thank you",
        "thanks",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "thanks for listening",
        "bye",
        "so",
        "oh",
        "please subscribe",
        "subtitles by the amara.org community",
    }
)

_WORDS = re.compile(r"[a-z0-9']+")
_HAS_WORD = re.compile(r"[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class DecodedSegment:
    """The numbers of one Whisper segment that the filter looks at."""

    text: str
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float


def normalise_phrase(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def rejection_reason(segment: DecodedSegment, level_dbfs: float) -> str | None:
    """Why this segment is not speech, or None to keep it. ``level_dbfs`` is the RMS of the voiced audio."""
    if not _HAS_WORD.search(segment.text):
        return "no words"
    if segment.no_speech_prob > NO_SPEECH_PROB_MAX and segment.avg_logprob < UNSURE_LOGPROB:
        return "no speech"
    if segment.avg_logprob < MIN_AVG_LOGPROB:
        return "improbable words"
    if segment.compression_ratio > MAX_COMPRESSION_RATIO:
        return "repetition loop"
    if normalise_phrase(segment.text) in JUNK_PHRASES and (
        level_dbfs < QUIET_DBFS or segment.no_speech_prob > JUNK_NO_SPEECH_PROB
    ):
        return "stock hallucination on quiet input"
    return None


def kept_segments(segments: list[DecodedSegment], level_dbfs: float) -> list[DecodedSegment]:
    """The segments that pass the filter, in order."""
    return [s for s in segments if rejection_reason(s, level_dbfs) is None]
