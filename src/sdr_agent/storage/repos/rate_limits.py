"""Fixed-window rate-limit counters in the database, so every replica counts against the same limit.

One statement per hit: ``INSERT ... ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits`` is atomic
on both SQLite and PostgreSQL, so two replicas can never both see the last allowed request.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import RateLimitCounterRow


async def hit(session: AsyncSession, bucket: str, window_start: int, amount: int = 1) -> int:
    """Add ``amount`` to the bucket's counter for this window; returns the new count."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = RateLimitCounterRow
    statement = (
        insert(row)
        .values(bucket=bucket, window_start=window_start, hits=amount)
        .on_conflict_do_update(
            index_elements=[row.bucket, row.window_start], set_={"hits": row.hits + amount}
        )
        .returning(row.hits)
    )
    return int((await session.execute(statement)).scalar_one())


async def count(session: AsyncSession, bucket: str, window_start: int) -> int:
    row = await session.execute(
        select(RateLimitCounterRow.hits).where(
            RateLimitCounterRow.bucket == bucket, RateLimitCounterRow.window_start == window_start
        )
    )
    return int(row.scalar_one_or_none() or 0)


async def forget_before(session: AsyncSession, window_start: int) -> int:
    """Delete counters of windows that started before ``window_start``; returns how many."""
    result = await session.execute(
        delete(RateLimitCounterRow).where(RateLimitCounterRow.window_start < window_start)
    )
    return int(getattr(result, "rowcount", 0) or 0)
