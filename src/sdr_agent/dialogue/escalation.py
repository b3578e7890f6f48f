"""When to hand the caller to a human: two consecutive frustrated caller turns (at or below a sentiment
threshold, and not the caller describing their own business's pain), or an explicit request ("talk to a real
person"). Sentiment comes from the offline lexicon scorer
``sdr_agent.analysis.sentiment`` (pure Python; the one import from ``analysis`` the layer contract allows)."""

from __future__ import annotations

import logging
import re

from sdr_agent.analysis.sentiment import score_sentiment as _lexicon_sentiment

log = logging.getLogger(__name__)

NEGATIVE_THRESHOLD = -0.4
CONSECUTIVE_TURNS = 2
# "Our main problem is keeping track of leads", "we tried a tool, but it was too slow for us": negative words
# about the caller's own situation are what discovery asks for, not frustration with the call — unless the
# turn is also about the call or the agent ("you keep repeating yourself", "a waste of my time").
_ABOUT_THEMSELVES = re.compile(
    r"\b(?:our|ours|we|we're|we've|we'd|us|my|i|i'm|i've|i'd|the team|they|their)\b", re.IGNORECASE
)
_ABOUT_THE_CALL = re.compile(
    r"\b(?:you|you're|your|this call|calling|call me|stop|annoy\w*|ridiculous|waste|useless|rude|"
    r"listen\w*|robot\w*|repeat\w*|hang up|pointless|stupid)\b",
    re.IGNORECASE,
)


def score_sentiment(text: str) -> float:
    """Sentiment in [-1, 1]; 0.0 when the scorer fails."""
    if not text.strip():
        return 0.0
    try:
        value = float(_lexicon_sentiment(text))
    except Exception:
        log.exception("sentiment scorer failed; treating the turn as neutral")
        return 0.0
    return max(-1.0, min(1.0, value))


class EscalationMonitor:
    """Counts consecutive negative caller turns; fires once per call."""

    def __init__(self, threshold: float = NEGATIVE_THRESHOLD, consecutive: int = CONSECUTIVE_TURNS) -> None:
        self.threshold = threshold
        self.consecutive = consecutive
        self._streak = 0
        self.fired = False

    def observe(self, sentiment: float, text: str = "") -> bool:
        """True when this turn completes the negative streak (and escalation has not happened yet)."""
        self._streak = self._streak + 1 if self._frustrated(sentiment, text) else 0
        if not self.fired and self._streak >= self.consecutive:
            self.fired = True
            return True
        return False

    def _frustrated(self, sentiment: float, text: str) -> bool:
        if sentiment > self.threshold:
            return False
        return bool(_ABOUT_THE_CALL.search(text)) or not _ABOUT_THEMSELVES.search(text)
