"""Process-wide voice runtime: engines (built once, warmed up at start), the live-call registry,
and the builder that gives each call its own CallSession."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sdr_agent.dialogue.deps import ClientToolRunner
from sdr_agent.engines.base import ContextPassage, TurnDetector
from sdr_agent.engines.factory import EngineSet, build_engines, engines_for_agent
from sdr_agent.security.urls import guarded_client, policy_from_entries
from sdr_agent.services import Services
from sdr_agent.storage.repos.agents import Agent
from sdr_agent.storage.repos.conversations import Conversation
from sdr_agent.voice.config import SessionDeps, session_config
from sdr_agent.voice.ports import CallControl
from sdr_agent.voice.session import CallSession
from sdr_agent.voice.storage_sink import StorageSink
from sdr_agent.voice.transport import MediaTransport

log = logging.getLogger(__name__)


@dataclass
class VoiceRuntime:
    engines: EngineSet
    calls: dict[str, CallSession] = field(default_factory=dict)


_background: set[asyncio.Task[object]] = set()


async def on_startup(services: Services) -> None:
    engines = build_engines(services.settings)
    timings = await engines.warm_up()
    log.info("engines warmed up: %s", timings)
    services.voice = VoiceRuntime(engines=engines)
    from sdr_agent.knowledge.store import knowledge_store

    try:
        # Load the embedding model now, not on the first question of the first call.
        await knowledge_store(services).warm_up()
        from sdr_agent.dialogue.signals import warm_up

        # The caller-phrase examples the dialogue routes by, embedded once in the background (start-up
        # does not wait; a call that needs them first builds them itself).
        embedder = knowledge_store(services).embedder
        task = asyncio.create_task(asyncio.to_thread(warm_up, embedder))
        _background.add(task)
        task.add_done_callback(_background.discard)
    except Exception:
        log.exception("knowledge store warm-up failed; the first retrieval may be slow")


async def on_shutdown(services: Services) -> None:
    runtime = services.voice
    if runtime is not None:
        for session in list(runtime.calls.values()):
            await session.finish(ended_ok=False, reason="server shutting down")


def voice_runtime(services: Services) -> VoiceRuntime:
    runtime = services.voice
    if runtime is None:
        runtime = VoiceRuntime(engines=build_engines(services.settings))
        services.voice = runtime
    return runtime


async def create_session(
    services: Services,
    *,
    conversation: Conversation,
    agent: Agent,
    stream_sid: str,
    call_sid: str,
    transport: MediaTransport,
    control: CallControl | None,
    client_tools: ClientToolRunner | None = None,
) -> CallSession:
    from sdr_agent.dialogue.factory import DialogueDeps, build_dialogue

    runtime = voice_runtime(services)
    config_dict = _effective_config(agent.conversation_config, conversation.config_override)
    engines = engines_for_agent(runtime.engines, services.settings, config_dict)
    sink = StorageSink(services, conversation.conversation_id)
    await sink.mark_started(stream_sid=stream_sid, call_sid=call_sid)
    dialogue = build_dialogue(
        agent_config=config_dict,
        platform_settings=agent.platform_settings,
        agent_id=agent.agent_id,
        agent_name=agent.name,
        dynamic_variables={k: str(v) for k, v in conversation.dynamic_variables.items()},
        tools=await workspace_tools(services, config_dict),  # prompt.tool_ids, resolved on every call
        outbound=conversation.direction == "outbound",
        deps=DialogueDeps(
            llm=engines.llm,
            embedder=dialogue_embedder(services),
            write_metadata=sink.merge_metadata,  # an opt-out is on the record at once
            retrieve=_retriever(services),
            book_meeting=_meeting_booker(services, agent.agent_id, conversation.conversation_id),
            # Tool webhooks are client-supplied URLs: the same address policy as every outbound request.
            http=guarded_client(policy_from_entries(services.settings.security.url_allowlist)),
            clock=lambda: datetime.now(UTC),
            context_window_tokens=services.settings.llm.context_window_tokens,
            max_output_tokens=services.settings.llm.max_tokens,
            client_tools=client_tools,
        ),
    )
    _warm_retrieval(services, config_dict)
    vad = await asyncio.to_thread(engines.vad_factory)  # model set-up must not stall other calls' audio
    turn_detector = await _turn_detector(services)
    session = CallSession(
        conversation_id=conversation.conversation_id,
        call_sid=call_sid,
        deps=SessionDeps(
            stt=engines.stt, tts=engines.tts, vad=vad, dialogue=dialogue, sink=sink,
            control=control, turn_detector=turn_detector,
        ),
        config=session_config(services.settings, config_dict),
        transport=transport,
    )
    sink.record_audio(session.recorder, session.clock)
    runtime.calls[call_sid] = session
    return session


async def _turn_detector(services: Services) -> TurnDetector | None:
    """The process's Smart Turn model (loaded once, off the loop). Not with the scripted recogniser: its
    calls are scripted tones, and an acoustic verdict on a tone would only add noise to those tests."""
    settings = services.settings
    if not settings.turn.smart_turn or settings.stt.provider == "fake":
        return None
    from sdr_agent.engines.local.smart_turn import shared_smart_turn

    return await asyncio.to_thread(shared_smart_turn)


def forget_session(services: Services, call_sid: str) -> None:
    voice_runtime(services).calls.pop(call_sid, None)


def _effective_config(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    from sdr_agent.storage.repos.jsonmerge import deep_merge

    return deep_merge(base, override or {}) if override else base


async def workspace_tools(services: Services, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool configs for ``agent.prompt.tool_ids`` (unknown ids are logged and left out)."""
    from sdr_agent.storage.repos.tools import get_tools

    prompt = (config.get("agent") or {}).get("prompt") or {}
    ids = [t for t in prompt.get("tool_ids") or [] if isinstance(t, str)]
    if not ids:
        return []
    async with services.db.session() as session:
        tools = await get_tools(session, ids)
    missing = set(ids) - {tool.tool_id for tool in tools}
    if missing:
        log.warning("agent references unknown tool ids %s; left out", sorted(missing))
    return [{"tool_config": tool.tool_config} for tool in tools]


def dialogue_embedder(services: Services) -> Any:
    """The knowledge base's sentence embedder, shared with the dialogue's intent and answer matching."""
    from sdr_agent.knowledge.store import knowledge_store

    return knowledge_store(services).embedder


def _retriever(services: Services) -> Any:
    from sdr_agent.knowledge.store import knowledge_store

    async def retrieve(question: str, document_ids: Sequence[str], k: int) -> list[ContextPassage]:
        if not document_ids:
            return []
        return await knowledge_store(services).query(question, document_ids, k)

    return retrieve


_warm_ups: set[asyncio.Task[None]] = set()


def knowledge_document_ids(config: dict[str, Any]) -> list[str]:
    entries = ((config.get("agent") or {}).get("prompt") or {}).get("knowledge_base") or []
    return [str(e["id"]) for e in entries if isinstance(e, dict) and e.get("id")]


def _warm_retrieval(services: Services, config: dict[str, Any]) -> None:
    """Load this agent's knowledge vectors while the call connects, so its first question does not pay
    for it in the middle of an answer (the first query of an agent loads its documents' vectors)."""
    ids = knowledge_document_ids(config)
    if not ids:
        return

    async def warm() -> None:
        try:
            await _retriever(services)("warm up", ids, 1)
        except Exception:
            log.warning("retrieval warm-up failed; the first question may be slow", exc_info=True)

    task = asyncio.create_task(warm(), name="retrieval-warm-up")
    _warm_ups.add(task)
    task.add_done_callback(_warm_ups.discard)


def _meeting_booker(services: Services, agent_id: str, conversation_id: str) -> Any:
    from sdr_agent.storage.repos.meetings import NewMeeting, save_meeting

    async def book(request: Any) -> dict[str, Any]:
        meeting = NewMeeting(
            starts_at=request.starts_at, timezone=request.timezone, duration_minutes=request.duration_minutes,
            name=request.name, email=request.email, phone=request.phone,
            notes=request.notes or request.when_text,
        )
        async with services.db.session() as session:
            return await save_meeting(session, meeting, agent_id=agent_id, conversation_id=conversation_id)

    return book
