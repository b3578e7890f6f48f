"""Everything post-call work reads about one conversation, loaded in one session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.analysis.analyzer import AnalysisInput, analysis_spec
from sdr_agent.storage.repos.agents import Agent, get_agent
from sdr_agent.storage.repos.conversations import Conversation, get_conversation
from sdr_agent.storage.repos.meetings import meetings_for_conversation

_CALLER_NAME_KEYS = ("customer_name", "first_name", "name", "lead_name", "contact_name")


@dataclass(slots=True)
class PostCallContext:
    conversation: Conversation
    agent: Agent | None
    meetings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def agent_name(self) -> str | None:
        return self.agent.name if self.agent is not None else None

    @property
    def platform_settings(self) -> dict[str, Any]:
        return self.agent.platform_settings if self.agent is not None else {}

    def analysis_input(
        self, *, ended_ok: bool, termination_reason: str | None, dialogue_state: dict[str, Any]
    ) -> AnalysisInput:
        criteria, data_collection = analysis_spec(self.platform_settings)
        conv = self.conversation
        return AnalysisInput(
            turns=list(conv.turns),
            dialogue_state=dict(dialogue_state or {}),
            criteria=criteria,
            data_collection=data_collection,
            meetings=self.meetings,
            ended_ok=ended_ok,
            termination_reason=termination_reason or conv.termination_reason,
            duration_secs=conv.duration_secs,
            direction=conv.direction,
            caller_name=_caller_name(conv.dynamic_variables),
        )


async def load_context(session: AsyncSession, conversation_id: str) -> PostCallContext | None:
    conversation = await get_conversation(session, conversation_id)
    if conversation is None:
        return None
    agent = await get_agent(session, conversation.agent_id) if conversation.agent_id else None
    meetings = await meetings_for_conversation(session, conversation_id)
    return PostCallContext(conversation=conversation, agent=agent, meetings=meetings)


def _caller_name(variables: dict[str, Any]) -> str | None:
    for key in _CALLER_NAME_KEYS:
        value = variables.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
