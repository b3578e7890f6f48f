"""Webhook receivers (the seed's webhook_configs, registered the ElevenLabs way) and the workspace's
post-call webhook selection (``workspace_settings`` key ``convai``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import WebhookConfigRow, WorkspaceSettingRow, utcnow
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.timeutil import as_utc

CONVAI_SETTINGS_KEY = "convai"


@dataclass(slots=True)
class WebhookConfig:
    webhook_id: str
    name: str
    url: str
    auth_type: str
    secret: str
    events: list[str] = field(default_factory=list)
    agent_id: str | None = None
    send_audio: bool = False
    is_disabled: bool = False
    created_at: datetime | None = None


def new_webhook_secret() -> str:
    return "wsec_" + secrets.token_hex(32)


def _record(row: WebhookConfigRow) -> WebhookConfig:
    return WebhookConfig(
        webhook_id=row.webhook_id,
        name=row.name,
        url=row.url,
        auth_type=row.auth_type,
        secret=row.secret,
        events=[str(e) for e in (row.events or [])],
        agent_id=row.agent_id,
        send_audio=bool(row.send_audio),
        is_disabled=bool(row.is_disabled),
        created_at=as_utc(row.created_at),
    )


async def create_webhook_config(
    session: AsyncSession,
    *,
    name: str,
    url: str,
    auth_type: str = "hmac",
    events: list[str] | None = None,
    agent_id: str | None = None,
    send_audio: bool = False,
    secret: str | None = None,
) -> WebhookConfig:
    row = WebhookConfigRow(
        webhook_id=new_id("whk"),
        name=name,
        url=url,
        auth_type=auth_type,
        secret=secret or new_webhook_secret(),
        events=list(events or []),
        agent_id=agent_id,
        send_audio=send_audio,
        is_disabled=False,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _record(row)


async def get_webhook_config(session: AsyncSession, webhook_id: str) -> WebhookConfig | None:
    row = await session.get(WebhookConfigRow, webhook_id, populate_existing=True)
    return None if row is None else _record(row)


async def list_webhook_configs(session: AsyncSession) -> list[WebhookConfig]:
    rows = await session.scalars(
        select(WebhookConfigRow).order_by(
            WebhookConfigRow.created_at.desc(), WebhookConfigRow.webhook_id.desc()
        )
    )
    return [_record(r) for r in rows]


async def list_subscribed_configs(session: AsyncSession, agent_id: str | None) -> list[WebhookConfig]:
    """Enabled receivers that subscribed to events themselves (seed shape), for this agent or every agent."""
    rows = await session.scalars(select(WebhookConfigRow).where(WebhookConfigRow.is_disabled.is_(False)))
    return [_record(r) for r in rows if r.events and (r.agent_id is None or r.agent_id == agent_id)]


async def update_webhook_config(
    session: AsyncSession,
    webhook_id: str,
    *,
    name: str | None = None,
    url: str | None = None,
    is_disabled: bool | None = None,
    events: list[str] | None = None,
    send_audio: bool | None = None,
) -> WebhookConfig | None:
    row = await session.get(WebhookConfigRow, webhook_id, populate_existing=True)
    if row is None:
        return None
    if name is not None:
        row.name = name
    if url is not None:
        row.url = url
    if is_disabled is not None:
        row.is_disabled = is_disabled
    if events is not None:
        row.events = list(events)
    if send_audio is not None:
        row.send_audio = send_audio
    await session.flush()
    return _record(row)


async def delete_webhook_config(session: AsyncSession, webhook_id: str) -> bool:
    result = await session.execute(delete(WebhookConfigRow).where(WebhookConfigRow.webhook_id == webhook_id))
    return bool(getattr(result, "rowcount", 0))


async def get_workspace_setting(session: AsyncSession, key: str) -> dict[str, Any]:
    row = await session.get(WorkspaceSettingRow, key, populate_existing=True)
    return {} if row is None else dict(row.value or {})


async def set_workspace_setting(session: AsyncSession, key: str, value: dict[str, Any]) -> dict[str, Any]:
    row = await session.get(WorkspaceSettingRow, key, populate_existing=True)
    if row is None:
        row = WorkspaceSettingRow(key=key, value=dict(value), updated_at=utcnow())
        session.add(row)
    else:
        row.value = dict(value)
        row.updated_at = utcnow()
    await session.flush()
    return dict(row.value)
