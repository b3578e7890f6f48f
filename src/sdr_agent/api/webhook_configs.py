"""Webhook receivers as ElevenLabs registers them, and the workspace's post-call webhook selection.

- ``POST /v1/workspace/webhooks`` — ``{settings: {name, webhook_url, auth_type: "hmac"}}`` (the SDK's shape)
  or the same fields flat; optional seed extensions ``events``, ``agent_id``, ``send_audio`` subscribe the
  receiver directly. Answers ``{webhook_id, webhook_secret}``; the secret is shown only here.
- ``GET /v1/workspace/webhooks``, ``PATCH|DELETE /v1/workspace/webhooks/{webhook_id}``.
- ``GET|PATCH /v1/convai/settings`` — ``{webhooks: {post_call_webhook_id, events, send_audio}}``.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.api.deps import SessionDep, SettingsDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.url_policy import require_allowed_url
from sdr_agent.storage.repos import webhooks as webhooks_repo
from sdr_agent.storage.repos.agents import get_agent
from sdr_agent.storage.repos.timeutil import unix_secs
from sdr_agent.webhooks.routing import DEFAULT_EVENTS

router = APIRouter(tags=["webhooks"], dependencies=[Depends(require_api_key)])

EventName = Literal["transcript", "audio", "call_initiation_failure"]


def _check_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("webhook_url must be an absolute http:// or https:// URL")
    return value.strip()


class WebhookSettingsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    webhook_url: str = Field(max_length=2048)
    auth_type: Literal["hmac"] = "hmac"
    request_headers: dict[str, str | None] | None = None
    events: list[EventName] | None = None
    agent_id: str | None = Field(default=None, max_length=64)
    send_audio: StrictBool = False

    _url = field_validator("webhook_url")(_check_url)

    @field_validator("request_headers")
    @classmethod
    def _no_custom_headers(cls, value: dict[str, str | None] | None) -> dict[str, str | None] | None:
        if value:
            raise ValueError("custom request headers are not supported; authenticate with the HMAC signature")
        return value


class CreateWebhookResponse(BaseModel):
    webhook_id: str
    webhook_secret: str


class WebhookUsage(BaseModel):
    usage_type: str


class WebhookView(BaseModel):
    name: str
    webhook_id: str
    webhook_url: str
    is_disabled: bool
    is_auto_disabled: bool = False
    created_at_unix: int
    auth_type: str
    usage: list[WebhookUsage] | None = None
    events: list[str] | None = None
    agent_id: str | None = None
    send_audio: bool = False
    most_recent_failure_error_code: int | None = None
    most_recent_failure_timestamp: int | None = None


class WebhookList(BaseModel):
    webhooks: list[WebhookView]


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    webhook_url: str | None = Field(default=None, max_length=2048)
    is_disabled: StrictBool | None = None
    events: list[EventName] | None = None
    send_audio: StrictBool | None = None
    retry_enabled: StrictBool | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("retry_enabled")
    @classmethod
    def _retries_stay_on(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError("retries cannot be turned off; deliveries are always retried for up to 24 h")
        return value


class StatusResponse(BaseModel):
    status: str = "ok"


class ConvAIWebhooks(BaseModel):
    model_config = ConfigDict(extra="ignore")

    post_call_webhook_id: str | None = Field(default=None, max_length=64)
    events: list[EventName] | None = None
    send_audio: StrictBool | None = None


class ConvAISettingsPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    webhooks: ConvAIWebhooks | None = None


class ConvAISettingsView(BaseModel):
    webhooks: dict[str, Any]


@router.post("/v1/workspace/webhooks", response_model=CreateWebhookResponse)
async def create_webhook(
    session: SessionDep, settings: SettingsDep, body: dict[str, Any] = Body(...)
) -> CreateWebhookResponse:
    wrapped = isinstance(body.get("settings"), dict)
    prefix = ["body", "settings"] if wrapped else ["body"]
    try:
        spec = WebhookSettingsIn.model_validate(body["settings"] if wrapped else body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": [*prefix, *err.get("loc", ())]} for err in exc.errors(include_url=False)]
        ) from exc
    require_allowed_url(spec.webhook_url, settings, [*prefix, "webhook_url"])
    if spec.agent_id is not None and await get_agent(session, spec.agent_id) is None:
        raise NotFoundError("agent", spec.agent_id)
    config = await webhooks_repo.create_webhook_config(
        session,
        name=spec.name,
        url=spec.webhook_url,
        auth_type=spec.auth_type,
        events=list(spec.events or []),
        agent_id=spec.agent_id,
        send_audio=spec.send_audio,
    )
    await session.commit()
    return CreateWebhookResponse(webhook_id=config.webhook_id, webhook_secret=config.secret)


@router.get("/v1/workspace/webhooks", response_model=WebhookList)
async def list_webhooks(session: SessionDep, include_usages: bool = False) -> WebhookList:
    configs = await webhooks_repo.list_webhook_configs(session)
    selected = (await _stored_webhooks(session)).get("post_call_webhook_id")
    views = []
    for config in configs:
        usage = [WebhookUsage(usage_type="ConvAI Settings")] if config.webhook_id == selected else []
        views.append(
            WebhookView(
                name=config.name,
                webhook_id=config.webhook_id,
                webhook_url=config.url,
                is_disabled=config.is_disabled,
                created_at_unix=unix_secs(config.created_at) or 0,
                auth_type=config.auth_type,
                usage=usage if include_usages else None,
                events=config.events or None,
                agent_id=config.agent_id,
                send_audio=config.send_audio,
            )
        )
    return WebhookList(webhooks=views)


@router.patch("/v1/workspace/webhooks/{webhook_id}", response_model=StatusResponse)
async def update_webhook(
    webhook_id: str, body: WebhookPatch, session: SessionDep, settings: SettingsDep
) -> StatusResponse:
    if body.webhook_url is not None:
        require_allowed_url(body.webhook_url, settings, ["body", "webhook_url"])
    updated = await webhooks_repo.update_webhook_config(
        session,
        webhook_id,
        name=body.name,
        url=body.webhook_url,
        is_disabled=body.is_disabled,
        events=None if body.events is None else list(body.events),
        send_audio=body.send_audio,
    )
    if updated is None:
        raise NotFoundError("webhook", webhook_id)
    await session.commit()
    return StatusResponse()


@router.delete("/v1/workspace/webhooks/{webhook_id}", response_model=StatusResponse)
async def delete_webhook(webhook_id: str, session: SessionDep) -> StatusResponse:
    if not await webhooks_repo.delete_webhook_config(session, webhook_id):
        raise NotFoundError("webhook", webhook_id)
    stored = await webhooks_repo.get_workspace_setting(session, webhooks_repo.CONVAI_SETTINGS_KEY)
    webhooks = stored.get("webhooks")
    if isinstance(webhooks, dict) and webhooks.get("post_call_webhook_id") == webhook_id:
        stored["webhooks"] = {**webhooks, "post_call_webhook_id": None}
        await webhooks_repo.set_workspace_setting(session, webhooks_repo.CONVAI_SETTINGS_KEY, stored)
    await session.commit()
    return StatusResponse()


@router.get("/v1/convai/settings", response_model=ConvAISettingsView)
async def get_convai_settings(session: SessionDep) -> ConvAISettingsView:
    return ConvAISettingsView(webhooks=_webhooks_view(await _stored_webhooks(session)))


@router.patch("/v1/convai/settings", response_model=ConvAISettingsView)
async def update_convai_settings(body: ConvAISettingsPatch, session: SessionDep) -> ConvAISettingsView:
    stored = await webhooks_repo.get_workspace_setting(session, webhooks_repo.CONVAI_SETTINGS_KEY)
    current = dict(stored.get("webhooks") or {})
    if body.webhooks is not None:
        given = body.webhooks.model_dump(include=body.webhooks.model_fields_set)
        selected = given.get("post_call_webhook_id")
        if selected and await webhooks_repo.get_webhook_config(session, selected) is None:
            raise RequestValidationError(
                [
                    {
                        "loc": ["body", "webhooks", "post_call_webhook_id"],
                        "type": "value_error",
                        "msg": f"webhook '{selected}' not found",
                    }
                ]
            )
        current.update(given)
        stored["webhooks"] = current
        await webhooks_repo.set_workspace_setting(session, webhooks_repo.CONVAI_SETTINGS_KEY, stored)
        await session.commit()
    return ConvAISettingsView(webhooks=_webhooks_view(current))


async def _stored_webhooks(session: AsyncSession) -> dict[str, Any]:
    stored = await webhooks_repo.get_workspace_setting(session, webhooks_repo.CONVAI_SETTINGS_KEY)
    webhooks = stored.get("webhooks")
    return dict(webhooks) if isinstance(webhooks, dict) else {}


def _webhooks_view(stored: dict[str, Any]) -> dict[str, Any]:
    events = stored.get("events")
    return {
        "post_call_webhook_id": stored.get("post_call_webhook_id"),
        "events": list(DEFAULT_EVENTS) if events is None else list(events),
        "send_audio": bool(stored.get("send_audio")),
    }
