"""The dialer's notion of now, injectable so tests can walk through evenings, weekends and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sdr_agent.services import Services


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def clock_of(services: Services) -> Clock:
    """The clock a test put in ``services.campaign_clock``, else the system clock."""
    return services.campaign_clock or SystemClock()
