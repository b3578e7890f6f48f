"""The do-not-call list. Numbers are stored in E.164; adding a number twice keeps the first entry."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import SuppressionRow, utcnow
from sdr_agent.storage.repos.pagination import Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc

SOURCES = ("api", "call", "import")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


@dataclass(frozen=True, slots=True)
class SuppressedNumber:
    phone_number: str
    reason: str
    source: str
    created_at: datetime


def _record(row: SuppressionRow) -> SuppressedNumber:
    return SuppressedNumber(row.phone_number, row.reason, row.source, as_utc(row.created_at))


async def add_number(
    session: AsyncSession, phone_number: str, reason: str, source: str
) -> tuple[SuppressedNumber, bool]:
    """(entry, created). A number already on the list keeps its original entry."""
    if source not in SOURCES:
        raise ValueError(f"unknown suppression source {source!r}")
    existing = await session.get(SuppressionRow, phone_number)
    if existing is not None:
        return _record(existing), False
    row = SuppressionRow(phone_number=phone_number, reason=reason, source=source, created_at=utcnow())
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # Another request (or replica) added it between our look and our insert.
        found = await session.get(SuppressionRow, phone_number, populate_existing=True)
        if found is None:
            raise
        return _record(found), False
    return _record(row), True


async def get_number(session: AsyncSession, phone_number: str) -> SuppressedNumber | None:
    row = await session.get(SuppressionRow, phone_number)
    return None if row is None else _record(row)


async def delete_number(session: AsyncSession, phone_number: str) -> bool:
    result = await session.execute(delete(SuppressionRow).where(SuppressionRow.phone_number == phone_number))
    return bool(getattr(result, "rowcount", 0))


async def suppressed_among(session: AsyncSession, numbers: Iterable[str]) -> set[str]:
    wanted = sorted(set(numbers))
    if not wanted:
        return set()
    rows = await session.scalars(
        select(SuppressionRow.phone_number).where(SuppressionRow.phone_number.in_(wanted))
    )
    return set(rows)


async def list_numbers(session: AsyncSession, cursor: str | None, page_size: int) -> Page[SuppressedNumber]:
    query = newest_first(
        select(SuppressionRow), SuppressionRow.created_at, SuppressionRow.phone_number, cursor, page_size
    )
    rows = list(await session.scalars(query))
    return make_page([_record(r) for r in rows], page_size, lambda n: (n.created_at, n.phone_number))


def opt_out_phrase(metadata: Mapping[str, Any]) -> str | None:
    """The dialogue's ``metadata["opt_out"] = {"phrase", "time_in_call_secs"}``, if the caller opted out."""
    opt_out = metadata.get("opt_out")
    if not isinstance(opt_out, Mapping):
        return None
    phrase = opt_out.get("phrase")
    return str(phrase) if phrase else "asked not to be called again"


def external_number(
    metadata: Mapping[str, Any], direction: str, from_number: str | None, to_number: str | None
) -> str | None:
    """The other party's number on a call (ours is the agent's)."""
    phone_call = metadata.get("phone_call")
    found = phone_call.get("external_number") if isinstance(phone_call, Mapping) else None
    if found:
        return str(found)
    return from_number if direction == "inbound" else to_number


async def add_opt_out(session: AsyncSession, number: str | None, metadata: Mapping[str, Any]) -> bool:
    """A caller who asked not to be called again goes on the list with source ``call``; True if added now.

    Called where a conversation is finalized and again when the dialer closes the attempt, so a crash
    between the two cannot lose the request (adding twice keeps the first entry).
    """
    phrase = opt_out_phrase(metadata)
    if phrase is None or not number or not _E164.match(number):
        return False
    _, created = await add_number(session, number, f"caller asked during the call: {phrase!r}"[:1000], "call")
    return created
