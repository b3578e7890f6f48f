"""Calling hours: a recipient is dialed only while it is inside the window in *every* zone it may be in.

Default 09:00-20:00 local, Monday-Friday; a campaign may override it, but never outside 08:00-21:00 (the
TCPA's 8 a.m.-9 p.m. rule, which most other regimes are stricter than). A number whose zone is ambiguous
(phonenumbers gives several candidates) is treated by the most restrictive reading: the intersection.
All arithmetic is on aware datetimes with ``zoneinfo``, so DST changes move the UTC instants, never the
local wall-clock window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LEGAL_EARLIEST = time(8, 0)
LEGAL_LATEST = time(21, 0)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS = frozenset(range(5))
# Candidate zones can disagree by many hours; give up looking for a common open slot after this many steps.
_MAX_STEPS = 64


class WindowError(ValueError):
    pass


def parse_clock(text: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as exc:
        raise WindowError(f"{text!r} is not a time of day (HH:MM)") from exc


def parse_days(days: Iterable[str | int]) -> frozenset[int]:
    found: set[int] = set()
    for day in days:
        if isinstance(day, int) and 0 <= day <= 6:
            found.add(day)
        elif isinstance(day, str) and day.strip().lower()[:3] in DAY_NAMES:
            found.add(DAY_NAMES.index(day.strip().lower()[:3]))
        else:
            raise WindowError(f"{day!r} is not a day of the week (mon..sun)")
    if not found:
        raise WindowError("the calling window needs at least one day")
    return frozenset(found)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True, slots=True)
class CallingWindow:
    start: time = time(9, 0)
    end: time = time(20, 0)
    days: frozenset[int] = field(default=WEEKDAYS)

    @classmethod
    def clamped(cls, start: time, end: time, days: frozenset[int]) -> CallingWindow:
        """The requested window limited to 08:00-21:00; an empty result is an error, not a silent no-op."""
        start, end = max(start, LEGAL_EARLIEST), min(end, LEGAL_LATEST)
        if start >= end:
            raise WindowError(
                f"calling window {start:%H:%M}-{end:%H:%M} is empty (calls are allowed 08:00-21:00 at most)"
            )
        return cls(start, end, days)

    def to_json(self) -> dict[str, object]:
        return {
            "start": f"{self.start:%H:%M}",
            "end": f"{self.end:%H:%M}",
            "days": [DAY_NAMES[d] for d in sorted(self.days)],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CallingWindow:
        days = data.get("days", list(DAY_NAMES[:5]))
        return cls.clamped(
            parse_clock(str(data.get("start", "09:00"))),
            parse_clock(str(data.get("end", "20:00"))),
            parse_days(days if isinstance(days, list) else []),
        )

    def is_open(self, when: datetime, zones: Sequence[ZoneInfo]) -> bool:
        return all(self._open_in(when.astimezone(z)) for z in zones)

    def next_open(self, when: datetime, zones: Sequence[ZoneInfo]) -> datetime | None:
        """The earliest instant ≥ ``when`` (UTC) at which every zone is inside the window; None if never."""
        current = when.astimezone(UTC)
        for _ in range(_MAX_STEPS):
            latest = current
            for z in zones:
                opens = self._next_open_in(current, z)
                if opens is None:
                    return None
                latest = max(latest, opens)
            if latest == current:
                return current
            current = latest
        return None

    def closes_at(self, when: datetime, zones: Sequence[ZoneInfo]) -> datetime:
        """When the window that is open at ``when`` closes first, across the zones (UTC)."""
        ends = []
        for z in zones:
            local = when.astimezone(z)
            ends.append(_at(local.date(), self.end, z))
        return min(ends) if ends else when

    def _open_in(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def _next_open_in(self, when: datetime, z: ZoneInfo) -> datetime | None:
        local = when.astimezone(z)
        if self._open_in(local):
            return when
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = _at(day, self.start, z)
            if opens >= when:
                return opens
        return None


def _at(day: date, clock: time, z: ZoneInfo) -> datetime:
    # A wall-clock time in a DST gap does not exist; zoneinfo maps it forward by the gap (fold=0), which is
    # later than asked and therefore still inside the window.
    return datetime.combine(day, clock, tzinfo=z).astimezone(UTC)


def zones_for(names: Sequence[str]) -> list[ZoneInfo]:
    return [zone(name) for name in names]
