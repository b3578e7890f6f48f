"""Agent request/response shapes: ElevenLabs' (conversation_config) and the seed's flat fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool

from sdr_agent.storage.repos.agents import Agent, flat_config
from sdr_agent.storage.repos.jsonmerge import deep_merge
from sdr_agent.storage.repos.timeutil import unix_secs

NAME_MAX = 255


class AgentCreateRequest(BaseModel):
    """``POST /v1/convai/agents/create`` (ElevenLabs)."""

    conversation_config: dict[str, Any]
    platform_settings: dict[str, Any] | None = None
    name: str | None = Field(default=None, max_length=NAME_MAX)
    tags: list[str] | None = Field(default=None, max_length=100)


class FlatAgentFields(BaseModel):
    """The seed's flat agent fields, mapped onto conversation_config paths."""

    system_prompt: str | None = None
    first_message: str | None = None
    voice_id: str | None = Field(default=None, max_length=255)
    interrupt_enabled: StrictBool | None = None

    def as_config(self) -> dict[str, Any]:
        return flat_config(
            system_prompt=self.system_prompt,
            first_message=self.first_message,
            voice_id=self.voice_id,
            interrupt_enabled=self.interrupt_enabled,
        )


class FlatAgentCreateRequest(FlatAgentFields):
    """``POST /v1/convai/agents`` (seed): flat fields; an ElevenLabs conversation_config may come along."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    conversation_config: dict[str, Any] | None = None
    platform_settings: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=100)

    def merged_config(self) -> dict[str, Any]:
        return deep_merge(self.conversation_config or {}, self.as_config())


class AgentUpdateRequest(FlatAgentFields):
    """PATCH: config objects deep-merge (``null`` deletes a key); flat fields are accepted too."""

    name: str | None = Field(default=None, max_length=NAME_MAX)
    conversation_config: dict[str, Any] | None = None
    platform_settings: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=100)

    def config_patch(self) -> dict[str, Any] | None:
        flat = self.as_config()
        if self.conversation_config is None and not flat:
            return None
        return deep_merge(self.conversation_config or {}, flat) if flat else self.conversation_config


class CreateAgentResponse(BaseModel):
    agent_id: str


class AccessInfo(BaseModel):
    is_creator: bool = True
    creator_name: str = "sdr-agent"
    creator_email: str = ""
    role: str = "admin"


class AgentMetadata(BaseModel):
    created_at_unix_secs: int
    updated_at_unix_secs: int


class AgentResponse(BaseModel):
    """GET/PATCH body: ElevenLabs' agent plus the seed's flat fields (extra keys are harmless to the SDK)."""

    agent_id: str
    name: str
    conversation_config: dict[str, Any]
    platform_settings: dict[str, Any]
    metadata: AgentMetadata
    tags: list[str]
    phone_numbers: list[dict[str, Any]] = Field(default_factory=list)
    access_info: AccessInfo = Field(default_factory=AccessInfo)
    system_prompt: str
    first_message: str
    voice_id: str | None
    interrupt_enabled: bool

    @classmethod
    def from_record(cls, agent: Agent, phone_numbers: list[dict[str, Any]] | None = None) -> AgentResponse:
        return cls(
            agent_id=agent.agent_id,
            name=agent.name,
            conversation_config=agent.conversation_config,
            platform_settings=agent.platform_settings,
            metadata=AgentMetadata(
                created_at_unix_secs=unix_secs(agent.created_at) or 0,
                updated_at_unix_secs=unix_secs(agent.updated_at) or 0,
            ),
            tags=agent.tags,
            phone_numbers=phone_numbers or [],
            system_prompt=agent.system_prompt,
            first_message=agent.first_message,
            voice_id=agent.voice_id,
            interrupt_enabled=agent.interrupt_enabled,
        )


class AgentSummary(BaseModel):
    agent_id: str
    name: str
    voice_id: str | None
    tags: list[str]
    created_at_unix_secs: int
    updated_at_unix_secs: int
    access_info: AccessInfo = Field(default_factory=AccessInfo)
    archived: bool = False

    @classmethod
    def from_record(cls, agent: Agent) -> AgentSummary:
        return cls(
            agent_id=agent.agent_id,
            name=agent.name,
            voice_id=agent.voice_id,
            tags=agent.tags,
            created_at_unix_secs=unix_secs(agent.created_at) or 0,
            updated_at_unix_secs=unix_secs(agent.updated_at) or 0,
        )


class AgentsPage(BaseModel):
    agents: list[AgentSummary]
    next_cursor: str | None
    has_more: bool
