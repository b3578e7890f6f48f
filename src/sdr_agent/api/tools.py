"""Workspace tools in ElevenLabs' shape (the SDK's ``conversational_ai.tools`` works unmodified):

- ``POST /v1/convai/tools`` ``{tool_config, response_mocks?}`` → the tool ``{id, tool_config, access_info,
  usage_stats}``; ``GET /v1/convai/tools`` (search = name prefix, types, page_size, cursor) →
  ``{tools, next_cursor, has_more}``; ``GET|PATCH|DELETE /v1/convai/tools/{tool_id}``.

Agents reference tools in ``conversation_config.agent.prompt.tool_ids``; every call resolves them afresh, so
an edited tool is in use from the next call on.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sdr_agent.api.deps import SessionDep, SettingsDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.paging import invalid_cursor
from sdr_agent.api.url_policy import require_allowed_url
from sdr_agent.dialogue.tool_config import SYSTEM_TOOL_TYPES
from sdr_agent.storage.repos import tools as tools_repo
from sdr_agent.storage.repos.pagination import InvalidCursorError

router = APIRouter(prefix="/v1/convai/tools", tags=["tools"], dependencies=[Depends(require_api_key)])

ToolType = Literal["webhook", "client", "system", "mcp"]


class ToolConfigIn(BaseModel):
    """The fields every tool has; the rest of ElevenLabs' tool_config is kept as sent."""

    model_config = ConfigDict(extra="allow")

    type: ToolType
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str = Field(default="", max_length=10_000)
    api_schema: dict[str, Any] | None = None
    params: dict[str, Any] | None = None

    @field_validator("params")
    @classmethod
    def _system_type(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        kind = (value or {}).get("system_tool_type")
        if kind is not None and kind not in (*SYSTEM_TOOL_TYPES, "language_detection", "transfer_to_agent"):
            raise ValueError(f"unknown system_tool_type {kind!r}")
        return value


class ToolRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tool_config: ToolConfigIn
    response_mocks: list[dict[str, Any]] | None = None


class AccessInfo(BaseModel):
    is_creator: bool = True
    creator_name: str = ""
    creator_email: str = ""
    role: str = "admin"


class UsageStats(BaseModel):
    total_calls: int | None = 0
    avg_latency_secs: float = 0.0


class ToolView(BaseModel):
    id: str
    tool_config: dict[str, Any]
    access_info: AccessInfo = Field(default_factory=AccessInfo)
    usage_stats: UsageStats = Field(default_factory=UsageStats)
    response_mocks: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, tool: tools_repo.WorkspaceTool) -> ToolView:
        return cls(id=tool.tool_id, tool_config=tool.tool_config, response_mocks=tool.response_mocks)


class ToolsPage(BaseModel):
    tools: list[ToolView]
    next_cursor: str | None
    has_more: bool


def _checked_config(request: ToolRequest, settings: Any) -> dict[str, Any]:
    config = request.tool_config
    if config.type == "webhook":
        url = (config.api_schema or {}).get("url")
        if not isinstance(url, str) or not url.strip():
            raise RequestValidationError(
                [
                    {
                        "loc": ["body", "tool_config", "api_schema", "url"],
                        "msg": "a webhook tool needs api_schema.url",
                        "type": "missing",
                    }
                ]
            )
        require_allowed_url(url, settings, ["body", "tool_config", "api_schema", "url"])
    return config.model_dump(exclude_none=True)


@router.post("", response_model=ToolView)
async def create_tool(request: ToolRequest, session: SessionDep, settings: SettingsDep) -> ToolView:
    tool = await tools_repo.create_tool(session, _checked_config(request, settings), request.response_mocks)
    await session.commit()
    return ToolView.of(tool)


@router.get("", response_model=ToolsPage)
async def list_tools(
    session: SessionDep,
    search: str | None = Query(default=None, max_length=255),
    types: list[ToolType] | None = Query(default=None),
    page_size: int = Query(default=30, ge=1, le=100),
    cursor: str | None = Query(default=None, max_length=512),
) -> ToolsPage:
    try:
        page = await tools_repo.list_tools(
            session, search=search, types=types or (), cursor=cursor, page_size=page_size
        )
    except InvalidCursorError as exc:
        raise invalid_cursor() from exc
    return ToolsPage(
        tools=[ToolView.of(t) for t in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/{tool_id}", response_model=ToolView)
async def get_tool(tool_id: str, session: SessionDep) -> ToolView:
    tool = await tools_repo.get_tool(session, tool_id)
    if tool is None:
        raise NotFoundError("tool", tool_id)
    return ToolView.of(tool)


@router.patch("/{tool_id}", response_model=ToolView)
async def update_tool(
    tool_id: str, request: ToolRequest, session: SessionDep, settings: SettingsDep
) -> ToolView:
    tool = await tools_repo.update_tool(
        session, tool_id, _checked_config(request, settings), request.response_mocks
    )
    if tool is None:
        raise NotFoundError("tool", tool_id)
    await session.commit()
    return ToolView.of(tool)


@router.delete("/{tool_id}", status_code=204)
async def delete_tool(tool_id: str, session: SessionDep) -> Response:
    if not await tools_repo.delete_tool(session, tool_id):
        raise NotFoundError("tool", tool_id)
    await session.commit()
    return Response(status_code=204)
