"""When to hand the caller to a human: two consecutive caller turns at or below a sentiment threshold, or an
explicit request ("talk to a real person"). Sentiment comes from the offline lexicon scorer
``sdr_agent.analysis.sentiment`` (pure Python; the one import from ``analysis`` the layer contract allows)."""

from __future__ import annotations

import logging

from sdr_agent.analysis.sentiment import score_sentiment as _lexicon_sentiment

log = logging.getLogger(__name__)

NEGATIVE_THRESHOLD = -0.4
CONSECUTIVE_TURNS = 2


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

    def observe(self, sentiment: float) -> bool:
        """True when this turn completes the negative streak (and escalation has not happened yet)."""
        self._streak = self._streak + 1 if sentiment <= self.threshold else 0
        if not self.fired and self._streak >= self.consecutive:
            self.fired = True
            return True
        return False
