"""Conversations: list, get (transcript, metadata, analysis), delete."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response

from sdr_agent.api.deps import SessionDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.paging import DEFAULT_PAGE, CursorQuery, PageSizeQuery, invalid_cursor
from sdr_agent.schemas.conversations import (
    ConversationResponse,
    ConversationsPage,
    conversation_response,
    list_item,
)
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos import recordings as recordings_repo
from sdr_agent.storage.repos.pagination import InvalidCursorError

# 9999-12-31T23:59:59Z: later times cannot be a datetime (fromtimestamp would raise, a 500 before this bound).
MAX_UNIX_SECS = 253_402_300_799

router = APIRouter(
    prefix="/v1/convai/conversations", tags=["conversations"], dependencies=[Depends(require_api_key)]
)


@router.get("", response_model=ConversationsPage)
async def list_conversations(
    session: SessionDep,
    agent_id: str | None = None,
    cursor: CursorQuery = None,
    page_size: PageSizeQuery = DEFAULT_PAGE,
    call_successful: str | None = Query(default=None, pattern="^(success|failure|unknown)$"),
    call_start_after_unix: int | None = Query(default=None, ge=0, le=MAX_UNIX_SECS),
    call_start_before_unix: int | None = Query(default=None, ge=0, le=MAX_UNIX_SECS),
) -> ConversationsPage:
    after = None if call_start_after_unix is None else datetime.fromtimestamp(call_start_after_unix, UTC)
    before = None if call_start_before_unix is None else datetime.fromtimestamp(call_start_before_unix, UTC)
    try:
        page = await conversations_repo.list_conversations(
            session,
            agent_id=agent_id,
            cursor=cursor,
            page_size=page_size,
            call_successful=call_successful,
            created_after=after,
            created_before=before,
        )
    except InvalidCursorError as exc:
        raise invalid_cursor() from exc
    return ConversationsPage(
        conversations=[list_item(s) for s in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/{conversation_id}", response_model=ConversationResponse)
async def get_conversation(conversation_id: str, session: SessionDep) -> ConversationResponse:
    conversation = await conversations_repo.get_conversation(session, conversation_id)
    if conversation is None:
        raise NotFoundError("conversation", conversation_id)
    agent_ids = {conversation.agent_id} if conversation.agent_id else set()
    names = await agents_repo.get_agent_names(session, agent_ids)
    stored_audio = await recordings_repo.has_audio(session, conversation_id)
    agent_name = names.get(conversation.agent_id or "")
    return conversation_response(conversation, agent_name, stored_audio=stored_audio)


@router.get("/{conversation_id}/audio", response_class=FileResponse)
async def get_conversation_audio(conversation_id: str, session: SessionDep) -> Response:
    """The call recording (WAV, 8 kHz, stereo: left caller, right agent): from the database, where it is
    checkpointed during the call (so any replica serves it, and a crashed call keeps its audio so far), else
    the file a call wrote before that existed."""
    conversation = await conversations_repo.get_conversation(session, conversation_id, with_turns=False)
    if conversation is None:
        raise NotFoundError("conversation", conversation_id)
    wav = await recordings_repo.load_wav(session, conversation_id)
    if wav is not None:
        return Response(
            wav, media_type="audio/wav",
            headers={"content-disposition": f'attachment; filename="{conversation_id}.wav"'},
        )
    if not conversation.audio_path or not Path(conversation.audio_path).is_file():
        raise NotFoundError("audio for conversation", conversation_id)
    return FileResponse(
        conversation.audio_path, media_type="audio/wav", filename=f"{conversation_id}.wav"
    )


@router.delete("/{conversation_id}")
async def delete_conversation(conversation_id: str, session: SessionDep) -> dict[str, Any]:
    if not await conversations_repo.delete_conversation(session, conversation_id):
        raise NotFoundError("conversation", conversation_id)
    await session.commit()
    return {}
