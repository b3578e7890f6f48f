"""Turn a finished (or never connected) conversation into outbox rows, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.repos.conversations import Conversation
from sdr_agent.webhooks import events, outbox
from sdr_agent.webhooks.routing import Target


async def publish_post_call(
    session: AsyncSession,
    conversation: Conversation,
    *,
    agent_name: str | None,
    meetings: list[dict[str, Any]],
    targets: list[Target],
    wav: bytes | None,
) -> list[str]:
    """Queue post_call_transcription (and post_call_audio where subscribed and audio exists); returns ids."""
    queued: list[str] = []
    transcription: str | None = None
    audio: str | None = None
    for target in targets:
        if events.POST_CALL_TRANSCRIPTION in target.event_types:
            if transcription is None:
                transcription = events.envelope(
                    events.POST_CALL_TRANSCRIPTION,
                    events.transcription_data(conversation, agent_name, meetings),
                )
            queued += await _enqueue(
                session, target, events.POST_CALL_TRANSCRIPTION, conversation.conversation_id, transcription
            )
        if events.POST_CALL_AUDIO in target.event_types and wav is not None:
            if audio is None:
                audio = events.envelope(events.POST_CALL_AUDIO, events.audio_data(conversation, wav))
            queued += await _enqueue(
                session, target, events.POST_CALL_AUDIO, conversation.conversation_id, audio
            )
    return queued


async def publish_initiation_failure(
    session: AsyncSession,
    *,
    conversation_id: str,
    agent_id: str | None,
    failure_reason: str,
    body: dict[str, Any],
    targets: list[Target],
) -> list[str]:
    queued: list[str] = []
    payload: str | None = None
    for target in targets:
        if events.CALL_INITIATION_FAILURE not in target.event_types:
            continue
        if payload is None:
            payload = events.envelope(
                events.CALL_INITIATION_FAILURE,
                events.initiation_failure_data(conversation_id, agent_id, failure_reason, body),
            )
        queued += await _enqueue(session, target, events.CALL_INITIATION_FAILURE, conversation_id, payload)
    return queued


async def _enqueue(
    session: AsyncSession, target: Target, event_type: str, conversation_id: str, payload: str
) -> list[str]:
    delivery_id = await outbox.enqueue(
        session,
        webhook_id=target.config.webhook_id,
        url=target.config.url,
        event_type=event_type,
        conversation_id=conversation_id,
        payload=payload,
        key=outbox.idempotency_key(target.config.webhook_id, event_type, conversation_id),
    )
    return [] if delivery_id is None else [delivery_id]
