"""Which receivers get which post-call events for a conversation.

Two sources, as ElevenLabs and the seed define them:
- the post-call webhook selected in the workspace settings (``PATCH /v1/convai/settings``
  ``{webhooks: {post_call_webhook_id, events, send_audio}}``), which an agent may override in
  ``platform_settings.workspace_overrides.webhooks`` (same shape; keys given there win);
- receivers registered with their own ``events`` list (and optionally an ``agent_id``), the seed's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.repos.webhooks import (
    CONVAI_SETTINGS_KEY,
    WebhookConfig,
    get_webhook_config,
    get_workspace_setting,
    list_subscribed_configs,
)
from sdr_agent.webhooks.events import SUBSCRIPTION_EVENTS

DEFAULT_EVENTS = ("transcript",)


@dataclass(slots=True)
class Target:
    config: WebhookConfig
    event_types: set[str]


def effective_webhook_settings(
    workspace: dict[str, Any], platform_settings: dict[str, Any]
) -> dict[str, Any]:
    overrides = platform_settings.get("workspace_overrides") if isinstance(platform_settings, dict) else None
    agent_webhooks = overrides.get("webhooks") if isinstance(overrides, dict) else None
    merged = dict(workspace.get("webhooks") or {}) if isinstance(workspace.get("webhooks"), dict) else {}
    if isinstance(agent_webhooks, dict):
        merged.update(agent_webhooks)
    return merged


def subscribed_event_types(events: list[str] | None, send_audio: bool) -> set[str]:
    names = set(DEFAULT_EVENTS if events is None else events)
    if send_audio:
        names.add("audio")
    return {SUBSCRIPTION_EVENTS[n] for n in names if n in SUBSCRIPTION_EVENTS}


async def resolve_targets(
    session: AsyncSession, agent_id: str | None, platform_settings: dict[str, Any]
) -> list[Target]:
    targets: dict[str, Target] = {}
    workspace = await get_workspace_setting(session, CONVAI_SETTINGS_KEY)
    selection = effective_webhook_settings(workspace, platform_settings)
    selected_id = selection.get("post_call_webhook_id")
    if isinstance(selected_id, str) and selected_id:
        config = await get_webhook_config(session, selected_id)
        if config is not None and not config.is_disabled:
            events = selection.get("events")
            names = [str(e) for e in events] if isinstance(events, list) else None
            targets[config.webhook_id] = Target(
                config, subscribed_event_types(names, bool(selection.get("send_audio")))
            )
    for config in await list_subscribed_configs(session, agent_id):
        types = subscribed_event_types(config.events, config.send_audio)
        if config.webhook_id in targets:
            targets[config.webhook_id].event_types |= types
        else:
            targets[config.webhook_id] = Target(config, types)
    return [t for t in targets.values() if t.event_types]
