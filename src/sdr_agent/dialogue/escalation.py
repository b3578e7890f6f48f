"""When to hand the caller to a human: two consecutive caller turns at or below a sentiment threshold, or an
explicit request ("talk to a real person"). Sentiment comes from ``sdr_agent.analysis.sentiment`` when that
module is installed; without it every turn counts as neutral."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from functools import lru_cache

log = logging.getLogger(__name__)

NEGATIVE_THRESHOLD = -0.4
CONSECUTIVE_TURNS = 2


@lru_cache(maxsize=1)
def _sentiment_scorer() -> Callable[[str], float] | None:
    try:
        module = importlib.import_module("sdr_agent.analysis.sentiment")
    except ImportError:
        return None
    scorer = getattr(module, "score_sentiment", None)
    return scorer if callable(scorer) else None


def score_sentiment(text: str) -> float:
    """Sentiment in [-1, 1]; 0.0 when no scorer is installed or it fails."""
    scorer = _sentiment_scorer()
    if scorer is None or not text.strip():
        return 0.0
    try:
        value = float(scorer(text))
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
