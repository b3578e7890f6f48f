"""Workspace tools: stored ``tool_config`` objects with ids, listed newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import WorkspaceToolRow, utcnow
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.pagination import Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc


@dataclass(frozen=True, slots=True)
class WorkspaceTool:
    tool_id: str
    tool_config: dict[str, Any]
    response_mocks: list[Any] | None
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return str(self.tool_config.get("name") or "")

    @property
    def tool_type(self) -> str:
        return str(self.tool_config.get("type") or "")


def _record(row: WorkspaceToolRow) -> WorkspaceTool:
    return WorkspaceTool(
        row.tool_id,
        dict(row.tool_config or {}),
        row.response_mocks,
        as_utc(row.created_at),
        as_utc(row.updated_at),
    )


async def create_tool(
    session: AsyncSession, tool_config: dict[str, Any], response_mocks: list[Any] | None = None
) -> WorkspaceTool:
    now = utcnow()
    row = WorkspaceToolRow(
        tool_id=new_id("tool"),
        name=str(tool_config.get("name") or ""),
        tool_type=str(tool_config.get("type")),
        tool_config=tool_config,
        response_mocks=response_mocks,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return _record(row)


async def get_tool(session: AsyncSession, tool_id: str) -> WorkspaceTool | None:
    row = await session.get(WorkspaceToolRow, tool_id)
    return None if row is None else _record(row)


async def get_tools(session: AsyncSession, tool_ids: Sequence[str]) -> list[WorkspaceTool]:
    """The tools with these ids, in the order asked (unknown ids left out)."""
    wanted = [t for t in dict.fromkeys(tool_ids) if isinstance(t, str) and t]
    if not wanted:
        return []
    rows = (
        await session.execute(select(WorkspaceToolRow).where(WorkspaceToolRow.tool_id.in_(wanted)))
    ).scalars()
    found = {row.tool_id: _record(row) for row in rows}
    return [found[t] for t in wanted if t in found]


async def update_tool(
    session: AsyncSession, tool_id: str, tool_config: dict[str, Any], response_mocks: list[Any] | None = None
) -> WorkspaceTool | None:
    row = await session.get(WorkspaceToolRow, tool_id)
    if row is None:
        return None
    row.tool_config = tool_config
    row.name = str(tool_config.get("name") or "")
    row.tool_type = str(tool_config.get("type"))
    if response_mocks is not None:
        row.response_mocks = response_mocks
    row.updated_at = utcnow()
    await session.flush()
    return _record(row)


async def delete_tool(session: AsyncSession, tool_id: str) -> bool:
    result = await session.execute(delete(WorkspaceToolRow).where(WorkspaceToolRow.tool_id == tool_id))
    return bool(getattr(result, "rowcount", 0))


async def list_tools(
    session: AsyncSession,
    *,
    search: str | None = None,
    types: Sequence[str] = (),
    cursor: str | None = None,
    page_size: int = 30,
) -> Page[WorkspaceTool]:
    query = select(WorkspaceToolRow)
    if search:
        # ElevenLabs: "tools whose names start with this string".
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(WorkspaceToolRow.name.ilike(f"{escaped}%", escape="\\"))
    if types:
        query = query.where(WorkspaceToolRow.tool_type.in_(list(types)))
    query = newest_first(query, WorkspaceToolRow.created_at, WorkspaceToolRow.tool_id, cursor, page_size)
    rows = [_record(row) for row in (await session.execute(query)).scalars()]
    return make_page(rows, page_size, lambda tool: (tool.created_at, tool.tool_id))
