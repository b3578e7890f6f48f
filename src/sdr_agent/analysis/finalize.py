"""After the call: status ``processing`` at once, then analysis, then — in ONE transaction — the analysis,
``call_successful``, the final status and the webhook outbox rows. Never raises into the call loop."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdr_agent.analysis.analyzer import AnalysisInput, rules_analysis
from sdr_agent.analysis.context import PostCallContext, load_context
from sdr_agent.analysis.llm_analyzer import llm_analysis
from sdr_agent.analysis.opt_out import opt_out_record
from sdr_agent.engines.base import LanguageModel
from sdr_agent.engines.factory import GENERATIVE_LLMS, build_llm
from sdr_agent.logs import bind_call
from sdr_agent.services import Services
from sdr_agent.storage.repos.agents import get_agent
from sdr_agent.storage.repos.conversations import (
    get_conversation,
    merge_conversation_metadata,
    update_conversation,
)
from sdr_agent.storage.repos.suppression import add_opt_out, external_number
from sdr_agent.webhooks.events import POST_CALL_AUDIO
from sdr_agent.webhooks.publish import publish_initiation_failure, publish_post_call
from sdr_agent.webhooks.routing import Target, resolve_targets
from sdr_agent.webhooks.runtime import wake_worker

log = logging.getLogger(__name__)

# Larger recordings are not inlined into a webhook body (base64 of ~40 minutes of stereo 8 kHz audio).
MAX_AUDIO_BYTES = 64 * 1024 * 1024


async def finish_conversation(
    services: Services,
    conversation_id: str,
    *,
    ended_ok: bool,
    termination_reason: str | None,
    dialogue_state: dict[str, Any],
    audio_wav_path: str | None,
) -> None:
    with bind_call(conversation_id=conversation_id):
        try:
            await _finish(
                services, conversation_id, ended_ok, termination_reason, dialogue_state, audio_wav_path
            )
        except Exception:
            log.exception("post-call processing failed")
            await _settle_status(services, conversation_id, "done" if ended_ok else "failed")


async def record_initiation_failure(
    services: Services, conversation_id: str, failure_reason: str, body: dict[str, Any]
) -> None:
    """An outbound call that never connected: mark it failed and queue call_initiation_failure."""
    with bind_call(conversation_id=conversation_id):
        try:
            async with services.db.session() as session:
                conversation = await get_conversation(session, conversation_id, with_turns=False)
                if conversation is None:
                    log.warning("initiation failure for an unknown conversation")
                    return
                if conversation.status == "initiated":
                    await update_conversation(
                        session,
                        conversation_id,
                        status="failed",
                        termination_reason=failure_reason,
                        ended_at=datetime.now(UTC),
                    )
                    await merge_conversation_metadata(
                        session, conversation_id, {"termination_reason": failure_reason}
                    )
                agent = await get_agent(session, conversation.agent_id) if conversation.agent_id else None
                targets = await resolve_targets(
                    session, conversation.agent_id, agent.platform_settings if agent else {}
                )
                queued = await publish_initiation_failure(
                    session,
                    conversation_id=conversation_id,
                    agent_id=conversation.agent_id,
                    failure_reason=failure_reason,
                    body=body,
                    targets=targets,
                )
            if queued:
                wake_worker(services)
        except Exception:
            log.exception("recording the call initiation failure failed")


async def analyze(services: Services, inp: AnalysisInput) -> dict[str, Any]:
    """Rules always run (fast, and the fallback); the LLM refines them when one is configured."""
    fallback = rules_analysis(inp)
    if not _wants_llm(services):
        return fallback
    try:
        llm = _analysis_llm(services)
        return await llm_analysis(llm, inp, fallback, services.settings.analysis.llm_timeout_s)
    except Exception as exc:
        log.warning("LLM post-call analysis failed (%s); using the rule-based analysis", exc)
        return fallback


async def _finish(
    services: Services,
    conversation_id: str,
    ended_ok: bool,
    termination_reason: str | None,
    dialogue_state: dict[str, Any],
    audio_wav_path: str | None,
) -> None:
    started = time.perf_counter()
    if not await _mark_processing(services, conversation_id, termination_reason, audio_wav_path):
        log.warning("post-call processing for an unknown conversation")
        return
    async with services.db.session() as session:
        context = await load_context(session, conversation_id)
        if context is None:
            return
        targets = await resolve_targets(session, context.conversation.agent_id, context.platform_settings)
    inp = context.analysis_input(
        ended_ok=ended_ok, termination_reason=termination_reason, dialogue_state=dialogue_state
    )
    analysis = await analyze(services, inp)
    wav = await _audio_for(targets, audio_wav_path or context.conversation.audio_path)
    queued = await _store(services, context, analysis, "done" if ended_ok else "failed", targets, wav)
    if queued:
        wake_worker(services)
    log.info(
        "post-call analysis stored (%s, %s) and %d webhook deliveries queued in %.0f ms",
        analysis["analysis_method"],
        analysis["call_successful"],
        len(queued),
        (time.perf_counter() - started) * 1000.0,
    )


async def _mark_processing(
    services: Services, conversation_id: str, termination_reason: str | None, audio_wav_path: str | None
) -> bool:
    async with services.db.session() as session:
        conversation = await get_conversation(session, conversation_id, with_turns=False)
        if conversation is None:
            return False
        fields: dict[str, Any] = {"status": "processing"}
        if termination_reason:
            fields["termination_reason"] = termination_reason
        if audio_wav_path and not conversation.audio_path:
            fields["audio_path"] = audio_wav_path
        if conversation.ended_at is None:
            ended = datetime.now(UTC)
            fields["ended_at"] = ended
            if conversation.started_at is not None and not conversation.duration_secs:
                fields["duration_secs"] = max(0.0, (ended - conversation.started_at).total_seconds())
        await update_conversation(session, conversation_id, **fields)
        if termination_reason:
            await merge_conversation_metadata(
                session, conversation_id, {"termination_reason": termination_reason}
            )
    return True


async def _store(
    services: Services,
    context: PostCallContext,
    analysis: dict[str, Any],
    status: str,
    targets: list[Target],
    wav: bytes | None,
) -> list[str]:
    conversation_id = context.conversation.conversation_id
    async with services.db.session() as session:
        await update_conversation(
            session,
            conversation_id,
            analysis=analysis,
            call_successful=analysis["call_successful"],
            status=status,
        )
        final = await get_conversation(session, conversation_id)
        if final is None:
            return []
        # "Don't call me again" (the dialogue's metadata["opt_out"]) → do-not-call list, same transaction.
        await add_opt_out(
            session,
            external_number(final.metadata, final.direction, final.from_number, final.to_number),
            opt_out_record(final),
        )
        return await publish_post_call(
            session, final, agent_name=context.agent_name, meetings=context.meetings, targets=targets, wav=wav
        )


async def _audio_for(targets: list[Target], path: str | None) -> bytes | None:
    if not path or not any(POST_CALL_AUDIO in t.event_types for t in targets):
        return None
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_AUDIO_BYTES:
            log.warning("call audio is %d bytes; too large for a post_call_audio webhook", size)
            return None
        return await asyncio.to_thread(file.read_bytes)
    except OSError as exc:
        log.warning("call audio could not be read for the webhook: %s", exc)
        return None


async def _settle_status(services: Services, conversation_id: str, status: str) -> None:
    """Last resort after a failure: never leave a conversation stuck in ``processing``."""
    try:
        async with services.db.session() as session:
            conversation = await get_conversation(session, conversation_id, with_turns=False)
            if conversation is not None and conversation.status == "processing":
                await update_conversation(session, conversation_id, status=status)
    except Exception:
        log.exception("could not settle the conversation status")


def _wants_llm(services: Services) -> bool:
    method = services.settings.analysis.method
    if method == "rules":
        return False
    return method == "llm" or services.settings.llm.provider in GENERATIVE_LLMS


def _analysis_llm(services: Services) -> LanguageModel:
    """A test- or runtime-provided model, else the voice runtime's, else one built from settings (cached)."""
    if services.analysis_llm is not None:
        return services.analysis_llm
    llm = services.voice.engines.llm if services.voice is not None else build_llm(services.settings.llm)
    services.analysis_llm = llm
    return llm
