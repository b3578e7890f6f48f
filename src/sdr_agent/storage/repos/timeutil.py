"""Timestamps leave the repositories timezone-aware UTC (SQLite hands back naive values)."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def unix_secs(value: datetime | None) -> int | None:
    return None if value is None else int(as_utc(value).timestamp())
