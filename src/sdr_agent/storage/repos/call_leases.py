"""Leases on live conversations: the process running a call renews one; a lapsed lease means it died.

Claims are fenced: a row is taken over only by a conditional UPDATE on the lease it was read with, after a
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite ignores the lock clause and relies on the UPDATE),
so two replicas sweeping at once never both recover one conversation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import ConversationRow, utcnow

# A conversation without a lease (a status callback moved it, no stream ever ran here) is only treated as
# orphaned once it is this old: a call being set up has no lease yet.
UNLEASED_GRACE = timedelta(hours=2)
_LIVE = ("in-progress", "processing")


def _rowcount(result: object) -> int:
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


async def take_lease(session: AsyncSession, conversation_id: str, owner: str, lease_s: float) -> None:
    await session.execute(
        update(ConversationRow)
        .where(ConversationRow.conversation_id == conversation_id)
        .values(owner_id=owner, lease_expires_at=utcnow() + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )


async def renew_lease(session: AsyncSession, conversation_id: str, owner: str, lease_s: float) -> bool:
    """False when another process took the conversation over (it thought this one dead)."""
    result = await session.execute(
        update(ConversationRow)
        .where(ConversationRow.conversation_id == conversation_id, ConversationRow.owner_id == owner)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def orphaned(
    session: AsyncSession, now: datetime, limit: int = 20
) -> list[tuple[str, datetime | None]]:
    """Live-looking conversations whose owner stopped renewing: (id, the lease seen)."""
    row = ConversationRow
    query = (
        select(row.conversation_id, row.lease_expires_at)
        .where(
            row.status.in_(_LIVE),
            or_(
                row.lease_expires_at < now,
                and_(row.lease_expires_at.is_(None), row.updated_at < now - UNLEASED_GRACE),
            ),
        )
        .order_by(row.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(str(cid), lease) for cid, lease in (await session.execute(query)).all()]


async def claim(
    session: AsyncSession, conversation_id: str, seen_lease: datetime | None, owner: str, lease_s: float
) -> bool:
    """Take the conversation over if its lease is still the one we saw (nobody renewed or claimed it)."""
    row = ConversationRow
    same_lease = row.lease_expires_at.is_(None) if seen_lease is None else row.lease_expires_at == seen_lease
    result = await session.execute(
        update(row)
        .where(row.conversation_id == conversation_id, row.status.in_(_LIVE), same_lease)
        .values(owner_id=owner, lease_expires_at=utcnow() + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1
