"""``POST /v1/convai/agents/{agent_id}/simulate-conversation`` in the SDK's request and response shapes.

The simulated user is scripted, not generated: it says ``simulated_user_config.first_message`` (if any),
then each line of ``caller_lines`` (ours; on ``simulation_specification`` or ``simulated_user_config``), one
per turn, until the lines run out, the agent ends the call or ``new_turns_limit`` turns have been added. The
agent side is the agent's own dialogue (prompt, knowledge base, LLM, system tools, variables) in text.
Not simulated: audio, speech recognition, timing, barge-in, client tools; meetings are not booked; nothing is
stored. Webhook tools are really called (as on a call, under the same URL policy).
``partial_conversation_history`` is replayed through the dialogue first (caller lines answered, the recorded
agent lines kept in place of fresh answers) so the conversation continues from it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from sdr_agent.analysis.analyzer import AnalysisInput, analysis_spec
from sdr_agent.analysis.finalize import analyze
from sdr_agent.api.deps import ServicesDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.dialogue.base import Dialogue
from sdr_agent.dialogue.deps import DialogueDeps
from sdr_agent.dialogue.factory import build_dialogue
from sdr_agent.engines.base import ContextPassage
from sdr_agent.engines.factory import engines_for_agent
from sdr_agent.security.urls import guarded_client, policy_from_entries
from sdr_agent.services import Services
from sdr_agent.storage.repos.agents import Agent, get_agent
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.runtime import dialogue_embedder, voice_runtime, workspace_tools
from sdr_agent.web.text_turns import TextConversation, gather_reply

router = APIRouter(tags=["agents"], dependencies=[Depends(require_api_key)])
MAX_LINES = 100


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["user", "agent"]
    message: str | None = Field(default=None, max_length=10_000)
    time_in_call_secs: float = 0


class SimulatedUser(BaseModel):
    model_config = ConfigDict(extra="allow")
    first_message: str | None = Field(default=None, max_length=10_000)
    caller_lines: list[str] = Field(default_factory=list, max_length=MAX_LINES)


class SimulationSpecification(BaseModel):
    model_config = ConfigDict(extra="allow")
    simulated_user_config: SimulatedUser = Field(default_factory=SimulatedUser)
    partial_conversation_history: list[HistoryItem] = Field(default_factory=list, max_length=200)
    dynamic_variables: dict[str, Any] = Field(default_factory=dict)
    caller_lines: list[str] = Field(default_factory=list, max_length=MAX_LINES)


class SimulateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    simulation_specification: SimulationSpecification
    extra_evaluation_criteria: list[dict[str, Any]] | None = None
    new_turns_limit: int | None = Field(default=None, ge=1, le=2 * MAX_LINES + 2)


class SimulateResponse(BaseModel):
    simulated_conversation: list[dict[str, Any]]
    analysis: dict[str, Any]


def _caller_lines(spec: SimulationSpecification) -> list[str]:
    user = spec.simulated_user_config
    lines = [user.first_message or "", *user.caller_lines, *spec.caller_lines]
    return [line.strip() for line in lines if line and line.strip()]


async def _dialogue(services: Services, agent: Agent, variables: dict[str, Any]) -> Dialogue:
    from sdr_agent.knowledge.store import knowledge_store

    config = agent.conversation_config
    engines = engines_for_agent(voice_runtime(services).engines, services.settings, config)

    async def retrieve(question: str, document_ids: Sequence[str], k: int) -> list[ContextPassage]:
        if not document_ids:
            return []
        return await knowledge_store(services).query(question, document_ids, k)

    return build_dialogue(
        agent_config=config, platform_settings=agent.platform_settings, agent_id=agent.agent_id,
        agent_name=agent.name, dynamic_variables={k: str(v) for k, v in variables.items()},
        tools=await workspace_tools(services, config),  # prompt.tool_ids, as on a call
        deps=DialogueDeps(
            llm=engines.llm, retrieve=retrieve, book_meeting=None, embedder=dialogue_embedder(services),
            # Webhook tools run for real, under the same address policy as on a call.
            http=guarded_client(policy_from_entries(services.settings.security.url_allowlist)),
            clock=lambda: datetime.now(UTC),
            context_window_tokens=services.settings.llm.context_window_tokens,
            max_output_tokens=services.settings.llm.max_tokens,
        ),
    )


def _item(record: TurnRecord) -> dict[str, Any]:
    return {
        "role": record.role, "message": record.message, "time_in_call_secs": int(record.time_in_call_secs),
        "tool_calls": record.tool_calls, "tool_results": record.tool_results, "feedback": None,
        "interrupted": False, "conversation_turn_metrics": {"latency_ms": record.latency_ms},
    }


async def _replay(chat: TextConversation, history: list[HistoryItem]) -> list[TurnRecord]:
    records: list[TurnRecord] = []
    for item in history:
        text = (item.message or "").strip()
        if item.role == "user" and text:
            events = chat.dialogue.respond(text)
            chat.dialogue.annotate_user_turn()
            await gather_reply(events)  # moves the dialogue on; the recorded agent line replaces the answer
        elif item.role == "agent" and text:
            chat.dialogue.record_agent_turn(text, False)
        records.append(
            TurnRecord(role=item.role, message=item.message, time_in_call_secs=item.time_in_call_secs)
        )
    return records


@router.post("/v1/convai/agents/{agent_id}/simulate-conversation", response_model=SimulateResponse)
async def simulate_conversation(
    agent_id: str, body: SimulateRequest, services: ServicesDep
) -> SimulateResponse:
    async with services.db.session() as db:
        agent = await get_agent(db, agent_id)
    if agent is None:
        raise NotFoundError("agent", agent_id)
    spec = body.simulation_specification
    lines = _caller_lines(spec)
    if not lines:
        raise HTTPException(
            status_code=422,
            detail="the simulated user has nothing to say: give simulated_user_config.first_message "
            "and/or caller_lines (a list of the caller's lines, one per turn)",
        )
    chat = TextConversation(await _dialogue(services, agent, spec.dynamic_variables))
    records = await _replay(chat, spec.partial_conversation_history)
    limit = body.new_turns_limit or (2 * len(lines) + 1)
    new: list[TurnRecord] = []
    ended = False
    if not spec.partial_conversation_history:
        _reply, opening = await chat.opening()
        if opening is not None:
            new.append(opening)
    for line in lines:
        if len(new) >= limit:
            break
        user, reply, agent_record = await chat.answer(line)
        new.append(user)
        if agent_record is not None and len(new) < limit:
            new.append(agent_record)
        if reply.end_call:
            ended = True
            break
    transcript = records + new
    # Extra criteria from the request are cleaned like the agent's own (a criterion without an id is dropped).
    extra = {"evaluation": {"criteria": list(body.extra_evaluation_criteria or [])}}
    criteria, data_collection = analysis_spec(agent.platform_settings)
    criteria = criteria + analysis_spec(extra)[0]
    started = time.monotonic()
    analysis = await analyze(services, AnalysisInput(
        turns=transcript, dialogue_state=dict(chat.dialogue.state_snapshot()),
        criteria=criteria, data_collection=data_collection,
        ended_ok=True, termination_reason="agent ended the call" if ended else "simulated user finished",
        duration_secs=chat.elapsed(), direction="web",
    ))
    analysis.setdefault("analysis_ms", round((time.monotonic() - started) * 1000))
    return SimulateResponse(simulated_conversation=[_item(r) for r in transcript], analysis=analysis)
