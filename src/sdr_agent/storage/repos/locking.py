"""SQLite: start a read-then-write transaction by writing, so it waits for the lock instead of failing.

In WAL mode a transaction that has read and then tries to write, after another connection committed a write
in between, cannot wait (its snapshot is stale): SQLite answers "database is locked" at once, whatever
busy_timeout says. A transaction whose first statement writes takes the lock up front and waits politely.
Under a campaign's load (many calls finishing at once) this is the difference between a lost status
callback and a short wait. PostgreSQL needs none of it (row locks, MVCC).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def begin_write(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "sqlite":
        # Any write statement takes SQLite's RESERVED lock when it starts, even one that changes no row.
        await session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))
