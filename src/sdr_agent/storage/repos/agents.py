"""Agents: the ElevenLabs resource (conversation_config, platform_settings, tags) with the seed's flat columns
kept in step on every write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import AgentRow, utcnow
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.jsonmerge import deep_merge, get_path, set_path
from sdr_agent.storage.repos.pagination import DEFAULT_PAGE_SIZE, Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc

PROMPT_PATH = ("agent", "prompt", "prompt")
FIRST_MESSAGE_PATH = ("agent", "first_message")
LANGUAGE_PATH = ("agent", "language")
VOICE_PATH = ("tts", "voice_id")
INTERRUPT_PATH = ("turn", "interrupt_enabled")


@dataclass(slots=True)
class Agent:
    agent_id: str
    name: str
    conversation_config: dict[str, Any]
    platform_settings: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    @property
    def system_prompt(self) -> str:
        return str(get_path(self.conversation_config, *PROMPT_PATH, default="") or "")

    @property
    def first_message(self) -> str:
        return str(get_path(self.conversation_config, *FIRST_MESSAGE_PATH, default="") or "")

    @property
    def voice_id(self) -> str | None:
        value = get_path(self.conversation_config, *VOICE_PATH)
        return None if value is None else str(value)

    @property
    def interrupt_enabled(self) -> bool:
        return bool(get_path(self.conversation_config, *INTERRUPT_PATH, default=True))

    @property
    def language(self) -> str:
        return str(get_path(self.conversation_config, *LANGUAGE_PATH, default="en") or "en")


def flat_config(
    *,
    system_prompt: str | None = None,
    first_message: str | None = None,
    voice_id: str | None = None,
    interrupt_enabled: bool | None = None,
) -> dict[str, Any]:
    """The seed's flat fields as a conversation_config fragment (fields left as None are omitted)."""
    config: dict[str, Any] = {}
    if system_prompt is not None:
        set_path(config, system_prompt, *PROMPT_PATH)
    if first_message is not None:
        set_path(config, first_message, *FIRST_MESSAGE_PATH)
    if voice_id is not None:
        set_path(config, voice_id, *VOICE_PATH)
    if interrupt_enabled is not None:
        set_path(config, interrupt_enabled, *INTERRUPT_PATH)
    return config


def _record(row: AgentRow) -> Agent:
    return Agent(
        agent_id=row.agent_id,
        name=row.name,
        conversation_config=dict(row.conversation_config or {}),
        platform_settings=dict(row.platform_settings or {}),
        tags=[str(t) for t in (row.tags or [])],
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def _sync_flat_columns(row: AgentRow) -> None:
    view = Agent(row.agent_id, row.name, row.conversation_config, {}, [], row.created_at, row.updated_at)
    row.system_prompt = view.system_prompt
    row.first_message = view.first_message
    row.voice_id = view.voice_id
    row.interrupt_enabled = view.interrupt_enabled


async def create_agent(
    session: AsyncSession,
    *,
    name: str = "",
    conversation_config: dict[str, Any] | None = None,
    platform_settings: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    agent_id: str | None = None,
) -> Agent:
    now = utcnow()
    row = AgentRow(
        agent_id=agent_id or new_id("agent"),
        name=name,
        conversation_config=deep_merge({}, conversation_config or {}),
        platform_settings=deep_merge({}, platform_settings or {}),
        tags=list(tags or []),
        created_at=now,
        updated_at=now,
    )
    _sync_flat_columns(row)
    session.add(row)
    await session.flush()
    return _record(row)


async def get_agent(session: AsyncSession, agent_id: str) -> Agent | None:
    row = await session.get(AgentRow, agent_id)
    return None if row is None else _record(row)


async def get_agent_names(session: AsyncSession, agent_ids: set[str]) -> dict[str, str]:
    if not agent_ids:
        return {}
    query = select(AgentRow.agent_id, AgentRow.name).where(AgentRow.agent_id.in_(agent_ids))
    result = await session.execute(query)
    return {agent_id: name for agent_id, name in result.all()}


async def list_agents(
    session: AsyncSession,
    *,
    search: str | None = None,
    cursor: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[Agent]:
    """Newest first; ``search`` is a case-insensitive substring of the name. Raises InvalidCursorError."""
    query = select(AgentRow)
    if search:
        query = query.where(func.lower(AgentRow.name).contains(search.lower(), autoescape=True))
    query = newest_first(query, AgentRow.created_at, AgentRow.agent_id, cursor, page_size)
    rows = (await session.scalars(query)).all()
    return make_page([_record(r) for r in rows], page_size, lambda a: (a.created_at, a.agent_id))


async def update_agent(
    session: AsyncSession,
    agent_id: str,
    *,
    name: str | None = None,
    conversation_config: dict[str, Any] | None = None,
    platform_settings: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> Agent | None:
    """Deep-merge the two config objects (``None`` inside them deletes a key); replace name/tags if given."""
    row = await session.get(AgentRow, agent_id)
    if row is None:
        return None
    if name is not None:
        row.name = name
    if conversation_config is not None:
        row.conversation_config = deep_merge(row.conversation_config or {}, conversation_config)
    if platform_settings is not None:
        row.platform_settings = deep_merge(row.platform_settings or {}, platform_settings)
    if tags is not None:
        row.tags = list(tags)
    _sync_flat_columns(row)
    row.updated_at = utcnow()
    await session.flush()
    return _record(row)


async def delete_agent(session: AsyncSession, agent_id: str) -> bool:
    result = await session.execute(delete(AgentRow).where(AgentRow.agent_id == agent_id))
    return bool(getattr(result, "rowcount", 0))
