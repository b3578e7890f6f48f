"""Meetings booked during calls (the built-in book_meeting tool)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import MeetingRow
from sdr_agent.storage.repos.ids import new_id


@dataclass(frozen=True, slots=True)
class NewMeeting:
    starts_at: datetime  # timezone-aware
    timezone: str
    duration_minutes: int = 30
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    notes: str = ""


def _as_dict(row: MeetingRow) -> dict[str, Any]:
    return {
        "meeting_id": row.meeting_id,
        "conversation_id": row.conversation_id,
        "agent_id": row.agent_id,
        "starts_at": row.starts_at.isoformat(),
        "timezone": row.timezone,
        "duration_minutes": row.duration_minutes,
        "attendee_name": row.attendee_name,
        "attendee_email": row.attendee_email,
        "attendee_phone": row.attendee_phone,
        "notes": row.notes,
    }


async def save_meeting(
    session: AsyncSession, meeting: NewMeeting, *, agent_id: str | None, conversation_id: str | None
) -> dict[str, Any]:
    if meeting.starts_at.tzinfo is None:
        raise ValueError("meeting start must be timezone-aware")
    row = MeetingRow(
        meeting_id=new_id("mtg"),
        conversation_id=conversation_id,
        agent_id=agent_id,
        starts_at=meeting.starts_at,
        timezone=meeting.timezone,
        duration_minutes=meeting.duration_minutes,
        attendee_name=meeting.name,
        attendee_email=meeting.email,
        attendee_phone=meeting.phone,
        notes=meeting.notes,
    )
    session.add(row)
    await session.flush()
    return _as_dict(row)


async def meetings_for_conversation(session: AsyncSession, conversation_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(MeetingRow)
        .where(MeetingRow.conversation_id == conversation_id)
        .order_by(MeetingRow.created_at)
    )
    return [_as_dict(row) for row in rows]
