"""Agents: ElevenLabs ``/v1/convai/agents`` plus the seed's flat ``POST /v1/convai/agents``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from sdr_agent.api.deps import SessionDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.agents import (
    AgentCreateRequest,
    AgentResponse,
    AgentsPage,
    AgentSummary,
    AgentUpdateRequest,
    CreateAgentResponse,
    FlatAgentCreateRequest,
)
from sdr_agent.api.schemas.paging import DEFAULT_PAGE, CursorQuery, PageSizeQuery, invalid_cursor
from sdr_agent.api.schemas.phone_numbers import PhoneNumberResponse
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.storage.repos.pagination import InvalidCursorError

router = APIRouter(prefix="/v1/convai/agents", tags=["agents"], dependencies=[Depends(require_api_key)])


async def _response(session: SessionDep, agent: agents_repo.Agent) -> AgentResponse:
    numbers = await numbers_repo.list_phone_numbers(session, agent_id=agent.agent_id)
    items: list[dict[str, Any]] = [PhoneNumberResponse.from_record(n).model_dump() for n in numbers]
    return AgentResponse.from_record(agent, items)


@router.post("/create", response_model=CreateAgentResponse)
async def create_agent(body: AgentCreateRequest, session: SessionDep) -> CreateAgentResponse:
    agent = await agents_repo.create_agent(
        session,
        name=body.name or "",
        conversation_config=body.conversation_config,
        platform_settings=body.platform_settings,
        tags=body.tags,
    )
    await session.commit()
    return CreateAgentResponse(agent_id=agent.agent_id)


@router.post("", response_model=AgentResponse)
async def create_agent_flat(body: FlatAgentCreateRequest, session: SessionDep) -> AgentResponse:
    agent = await agents_repo.create_agent(
        session,
        name=body.name,
        conversation_config=body.merged_config(),
        platform_settings=body.platform_settings,
        tags=body.tags,
    )
    await session.commit()
    return AgentResponse.from_record(agent)


@router.get("", response_model=AgentsPage)
async def list_agents(
    session: SessionDep,
    page_size: PageSizeQuery = DEFAULT_PAGE,
    search: str | None = None,
    cursor: CursorQuery = None,
) -> AgentsPage:
    try:
        page = await agents_repo.list_agents(session, search=search, cursor=cursor, page_size=page_size)
    except InvalidCursorError as exc:
        raise invalid_cursor() from exc
    return AgentsPage(
        agents=[AgentSummary.from_record(a) for a in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{agent_id}", response_model=AgentResponse)
async def get_agent(agent_id: str, session: SessionDep) -> AgentResponse:
    agent = await agents_repo.get_agent(session, agent_id)
    if agent is None:
        raise NotFoundError("agent", agent_id)
    return await _response(session, agent)


@router.patch("/{agent_id}", response_model=AgentResponse)
async def update_agent(agent_id: str, body: AgentUpdateRequest, session: SessionDep) -> AgentResponse:
    agent = await agents_repo.update_agent(
        session,
        agent_id,
        name=body.name,
        conversation_config=body.config_patch(),
        platform_settings=body.platform_settings,
        tags=body.tags,
    )
    if agent is None:
        raise NotFoundError("agent", agent_id)
    await session.commit()
    return await _response(session, agent)


@router.delete("/{agent_id}")
async def delete_agent(agent_id: str, session: SessionDep) -> dict[str, Any]:
    if not await agents_repo.delete_agent(session, agent_id):
        raise NotFoundError("agent", agent_id)
    await session.commit()
    return {}
