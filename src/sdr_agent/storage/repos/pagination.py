"""Keyset pagination, newest first, with an opaque cursor (created_at + id of the last item shown)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from sdr_agent.storage.repos.timeutil import as_utc

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 30
_CURSOR_YEARS = (1970, 9000)


class InvalidCursorError(ValueError):
    """The cursor was not produced by this server (or was altered)."""


class Page(NamedTuple, Generic[T]):
    items: list[T]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True, slots=True)
class CursorPosition:
    created_at: datetime
    item_id: str


def encode_cursor(created_at: datetime, item_id: str) -> str:
    raw = json.dumps({"t": as_utc(created_at).isoformat(), "id": item_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> CursorPosition:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        created_at = as_utc(datetime.fromisoformat(data["t"]))
        item_id = data["id"]
    # OverflowError: a forged time at the edge of datetime's range (9999-12-31T23:59-10:00) moved to UTC.
    except (binascii.Error, UnicodeError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise InvalidCursorError("invalid cursor") from exc
    if not isinstance(item_id, str) or len(item_id) > 128 or not _CURSOR_YEARS[0] <= created_at.year <= (
        _CURSOR_YEARS[1]
    ):
        # Times no row can have would only reach the database driver to overflow there.
        raise InvalidCursorError("invalid cursor")
    return CursorPosition(created_at, item_id)


def clamp_page_size(page_size: int) -> int:
    if page_size < 1 or page_size > MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return page_size


def newest_first(
    query: Select[Any],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[str],
    cursor: str | None,
    page_size: int,
) -> Select[Any]:
    """Order newest first, start after ``cursor``, fetch one extra row to learn ``has_more``."""
    if cursor:
        pos = decode_cursor(cursor)
        query = query.where(
            or_(created_col < pos.created_at, and_(created_col == pos.created_at, id_col < pos.item_id))
        )
    return query.order_by(created_col.desc(), id_col.desc()).limit(clamp_page_size(page_size) + 1)


def make_page(items: list[T], page_size: int, position: Any) -> Page[T]:
    """``position(item) -> (created_at, id)`` of an item; ``items`` holds up to page_size + 1 rows."""
    has_more = len(items) > page_size
    shown = items[:page_size]
    next_cursor = encode_cursor(*position(shown[-1])) if has_more and shown else None
    return Page(shown, next_cursor, has_more)
