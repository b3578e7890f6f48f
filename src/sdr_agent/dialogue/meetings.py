"""Meeting slots as callers say them ("Tuesday at 3", "tomorrow at half past ten", "March 4th at 2 pm
Eastern") or as an LLM writes them (ISO 8601), resolved to an aware datetime in the caller's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sdr_agent.dialogue.number_words import HOUR_WORDS as _HOUR_WORDS

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ALIASES = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "weds": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
} | {name: index for index, name in enumerate(WEEKDAYS)}
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_ALIASES = (
    {name[:3]: index + 1 for index, name in enumerate(MONTHS)}
    | {name: index + 1 for index, name in enumerate(MONTHS)}
    | {"sept": 9}
)
_MINUTE_WORDS = {
    "fifteen": 15,
    "thirty": 30,
    "forty five": 45,
    "forty-five": 45,
    "oh five": 5,
    "o'clock": 0,
    "ten": 10,
    "twenty": 20,
    "forty": 40,
    "fifty": 50,
}
TIMEZONE_ALIASES = {
    "eastern": "America/New_York",
    "et": "America/New_York",
    "est": "America/New_York",
    "edt": "America/New_York",
    "central": "America/Chicago",
    "ct": "America/Chicago",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "mountain": "America/Denver",
    "mt": "America/Denver",
    "mst": "America/Denver",
    "mdt": "America/Denver",
    "pacific": "America/Los_Angeles",
    "pt": "America/Los_Angeles",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "utc": "UTC",
    "gmt": "Europe/London",
    "london": "Europe/London",
    "uk": "Europe/London",
    "bst": "Europe/London",
    "cet": "Europe/Berlin",
    "cest": "Europe/Berlin",
    "central european": "Europe/Berlin",
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "ist": "Asia/Kolkata",
    "india": "Asia/Kolkata",
    "aest": "Australia/Sydney",
    "sydney": "Australia/Sydney",
}

_HOUR = r"(\d{1,2}|" + "|".join(_HOUR_WORDS) + r")"
_MINUTE = r"(\d{2}|" + "|".join(sorted(_MINUTE_WORDS, key=len, reverse=True)) + r")"
_HALF = r"(a\.?\s?m\.?|p\.?\s?m\.?|in the morning|in the afternoon|in the evening|at night)"
_TIME_PATTERNS = (
    re.compile(r"\b(half|quarter) (past|after|to) " + _HOUR + r"(?:\s?" + _HALF + r")?", re.IGNORECASE),
    re.compile(r"\b" + _HOUR + r"(?::|\s)" + _MINUTE + r"(?:\s?" + _HALF + r")?(?![\w:])", re.IGNORECASE),
    re.compile(r"\b" + _HOUR + r"\s?" + _HALF, re.IGNORECASE),
    re.compile(r"\b(?:at|around|by|for|say) " + _HOUR + r"(?![\w:]|\s?%)", re.IGNORECASE),
    re.compile(r"\b(noon|midday)\b", re.IGNORECASE),
)
_DAY_PATTERNS = (
    re.compile(r"\b(day after tomorrow|today|tonight|tomorrow)\b", re.IGNORECASE),
    re.compile(
        r"\b(?:(next|this|coming) )?("
        + "|".join(sorted(_WEEKDAY_ALIASES, key=len, reverse=True))
        + r")\b\.?",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b("
        + "|".join(sorted(_MONTH_ALIASES, key=len, reverse=True))
        + r")\.? (\d{1,2})(?:st|nd|rd|th)?\b",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:the )?(\d{1,2})(?:st|nd|rd|th)? of ("
        + "|".join(sorted(_MONTH_ALIASES, key=len, reverse=True))
        + r")\b",
        re.IGNORECASE,
    ),
)
_TZ_PATTERN = re.compile(
    r"\b(" + "|".join(sorted(TIMEZONE_ALIASES, key=len, reverse=True)) + r")(?: time)?\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class MeetingRequest:
    """What book_meeting asks storage to persist. ``starts_at`` is aware, in ``timezone``."""

    starts_at: datetime
    timezone: str
    when_text: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    duration_minutes: int = 30
    notes: str = ""
    agent_id: str | None = None
    conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class SlotMention:
    """A day and/or time found in the caller's words; ``text`` is their wording of it."""

    text: str
    day_text: str | None
    time_text: str | None
    timezone: str | None = None

    @property
    def complete(self) -> bool:
        return self.day_text is not None and self.time_text is not None


def _first_match(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    found = [match for pattern in patterns if (match := pattern.search(text))]
    return min(found, key=lambda match: match.start()) if found else None


def _time_match(text: str) -> re.Match[str] | None:
    for pattern in _TIME_PATTERNS:  # ordered most to least specific
        match = pattern.search(text)
        if match:
            return match
    return None


def find_timezone(text: str) -> str | None:
    match = _TZ_PATTERN.search(text)
    return TIMEZONE_ALIASES[match.group(1).lower()] if match else None


def find_slot(text: str) -> SlotMention | None:
    day = _first_match(_DAY_PATTERNS, text)
    clock = _time_match(text)
    if not day and not clock:
        return None
    spans = sorted((m.start(), m.end()) for m in (day, clock) if m)
    start, end = spans[0][0], spans[-1][1]
    zone = find_timezone(text[end : end + 24]) or find_timezone(text)
    wording = text[start:end]
    tz_match = _TZ_PATTERN.search(text, end)
    if tz_match and tz_match.start() - end <= 2:
        wording = text[start : tz_match.end()]
    return SlotMention(
        text=" ".join(wording.split()).rstrip(".,"),
        day_text=day.group(0).strip() if day else None,
        time_text=clock.group(0).strip() if clock else None,
        timezone=zone,
    )


def valid_timezone(name: str) -> str | None:
    """An IANA zone name for ``name`` (IANA names and common aliases), or None."""
    alias = TIMEZONE_ALIASES.get(name.strip().lower())
    if alias:
        return alias
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name.strip()


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _HOUR_WORDS.get(word.lower(), _MINUTE_WORDS.get(word.lower(), 0))


def _apply_half(hour: int, half: str | None) -> int:
    marker = (half or "").lower().replace(".", "").replace(" ", "")
    if marker.startswith("p") or marker in ("intheafternoon", "intheevening", "atnight"):
        return hour + 12 if hour < 12 else hour
    if marker.startswith("a") or marker == "inthemorning":
        return 0 if hour == 12 else hour
    # No am/pm: business hours — 1 to 7 is afternoon, 8 to 11 morning.
    return hour + 12 if 1 <= hour <= 7 else hour


def parse_clock(text: str) -> time | None:
    match = _time_match(text)
    if not match:
        return None
    groups = match.groups()
    if match.re is _TIME_PATTERNS[4]:
        return time(12, 0)
    if match.re is _TIME_PATTERNS[0]:
        kind, direction, hour_word, half = groups
        hour = _apply_half(_number(hour_word), half)
        minutes = 30 if kind.lower() == "half" else 15
        moment = datetime(2000, 1, 1, hour % 24) + (
            timedelta(minutes=-minutes) if direction == "to" else timedelta(minutes=minutes)
        )
        return moment.time()
    hour = _number(groups[0])
    minute = _number(groups[1]) if match.re is _TIME_PATTERNS[1] else 0
    half = (
        groups[2] if match.re is _TIME_PATTERNS[1] else groups[1] if match.re is _TIME_PATTERNS[2] else None
    )
    if not 0 <= hour <= 23 or not 0 <= minute <= 59:
        return None
    hour = _apply_half(hour, half) if hour <= 12 else hour
    return time(hour % 24, minute)


def parse_day(text: str, today: date) -> date | None:
    match = _first_match(_DAY_PATTERNS, text)
    if not match:
        return None
    word = match.group(0).lower()
    if "day after tomorrow" in word:
        return today + timedelta(days=2)
    if word in ("today", "tonight"):
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if match.re is _DAY_PATTERNS[1]:
        target = _WEEKDAY_ALIASES[match.group(2).lower()]
        ahead = (target - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    month_word, day_word = (
        (match.group(1), match.group(2)) if match.re is _DAY_PATTERNS[2] else (match.group(2), match.group(1))
    )
    month, day = _MONTH_ALIASES[month_word.lower().rstrip(".")], int(day_word)
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


def resolve_when(when: str, now: datetime, timezone: str) -> datetime | None:
    """An aware datetime for ``when`` (ISO 8601 or the caller's words), or None when day/time is unclear."""
    zone = ZoneInfo(timezone)
    try:
        parsed = datetime.fromisoformat(when.strip())
    except ValueError:
        parsed = None
    if parsed is not None:
        if "T" not in when and " " not in when.strip():
            return None  # a bare date has no time
        return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed.astimezone(zone)
    local_now = now.astimezone(zone) if now.tzinfo else now.replace(tzinfo=zone)
    clock = parse_clock(when)
    if clock is None:
        return None
    day = parse_day(when, local_now.date())
    if day is None:
        day = local_now.date()
        if clock <= local_now.time():
            day += timedelta(days=1)
    return datetime.combine(day, clock, tzinfo=zone)


def describe_slot(moment: datetime) -> str:
    """How the agent reads a resolved slot back: "Tuesday, March 10 at 3 pm"."""
    hour = moment.hour % 12 or 12
    minutes = f":{moment.minute:02d}" if moment.minute else ""
    half = "am" if moment.hour < 12 else "pm"
    return (
        f"{WEEKDAYS[moment.weekday()].title()}, {MONTHS[moment.month - 1].title()} {moment.day} at "
        f"{hour}{minutes} {half}"
    )
