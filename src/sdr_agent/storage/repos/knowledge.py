"""Knowledge-base documents (the rows; their chunks live in the vector store) and which agents attach them.

An agent attaches documents in ``conversation_config.agent.prompt.knowledge_base`` = [{type, id, name, ...}].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from sdr_agent.storage.models import AgentRow, KnowledgeDocumentRow, utcnow
from sdr_agent.storage.repos.jsonmerge import get_path
from sdr_agent.storage.repos.pagination import DEFAULT_PAGE_SIZE, Page, make_page, newest_first
from sdr_agent.storage.repos.timeutil import as_utc

KNOWLEDGE_BASE_PATH = ("agent", "prompt", "knowledge_base")
DOCUMENT_TYPES = ("text", "file", "url")


@dataclass(slots=True)
class KnowledgeDocument:
    document_id: str
    name: str
    doc_type: str  # text | file | url
    source: str | None  # the url (url documents) or the original filename (file documents)
    content: str  # extracted text; "" when listed without content
    size_bytes: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DependentAgent:
    agent_id: str
    name: str
    created_at: datetime


def _record(row: KnowledgeDocumentRow, *, with_content: bool = True) -> KnowledgeDocument:
    return KnowledgeDocument(
        document_id=row.document_id,
        name=row.name,
        doc_type=row.doc_type,
        source=row.source,
        content=row.content if with_content else "",
        size_bytes=row.size_bytes,
        chunk_count=row.chunk_count,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


async def create_document(
    session: AsyncSession,
    *,
    document_id: str,
    name: str,
    doc_type: str,
    source: str | None,
    content: str,
    size_bytes: int,
    chunk_count: int,
) -> KnowledgeDocument:
    if doc_type not in DOCUMENT_TYPES:
        raise ValueError(f"doc_type must be one of {DOCUMENT_TYPES}, got {doc_type!r}")
    now = utcnow()
    row = KnowledgeDocumentRow(
        document_id=document_id,
        name=name[:255],
        doc_type=doc_type,
        source=source[:2048] if source else None,
        content=content,
        size_bytes=size_bytes,
        chunk_count=chunk_count,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return _record(row)


async def get_document(session: AsyncSession, document_id: str) -> KnowledgeDocument | None:
    row = await session.get(KnowledgeDocumentRow, document_id)
    return None if row is None else _record(row)


async def get_documents(session: AsyncSession, document_ids: Iterable[str]) -> list[KnowledgeDocument]:
    """The documents that exist among ``document_ids`` (without content), in no particular order."""
    ids = sorted(set(document_ids))
    if not ids:
        return []
    query = select(KnowledgeDocumentRow).options(defer(KnowledgeDocumentRow.content))
    rows = (await session.scalars(query.where(KnowledgeDocumentRow.document_id.in_(ids)))).all()
    return [_record(row, with_content=False) for row in rows]


async def list_documents(
    session: AsyncSession,
    *,
    search: str | None = None,
    doc_types: Sequence[str] | None = None,
    cursor: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[KnowledgeDocument]:
    """Newest first, without content; ``search`` is a case-insensitive substring of the name.
    Raises InvalidCursorError."""
    query = select(KnowledgeDocumentRow).options(defer(KnowledgeDocumentRow.content))
    if search:
        query = query.where(func.lower(KnowledgeDocumentRow.name).contains(search.lower(), autoescape=True))
    if doc_types:
        query = query.where(KnowledgeDocumentRow.doc_type.in_(list(doc_types)))
    query = newest_first(query, KnowledgeDocumentRow.created_at, KnowledgeDocumentRow.document_id, cursor,
                         page_size)
    rows = (await session.scalars(query)).all()
    records = [_record(row, with_content=False) for row in rows]
    return make_page(records, page_size, lambda d: (d.created_at, d.document_id))


async def delete_document(session: AsyncSession, document_id: str) -> bool:
    result = await session.execute(
        delete(KnowledgeDocumentRow).where(KnowledgeDocumentRow.document_id == document_id)
    )
    return bool(getattr(result, "rowcount", 0))


def attached_document_ids(conversation_config: dict[str, Any] | None) -> list[str]:
    """Ids in ``conversation_config.agent.prompt.knowledge_base``, in order, malformed entries skipped."""
    entries = get_path(conversation_config or {}, *KNOWLEDGE_BASE_PATH, default=[])
    if not isinstance(entries, list):
        return []
    ids: list[str] = []
    for entry in entries:
        doc_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(doc_id, str) and doc_id and doc_id not in ids:
            ids.append(doc_id)
    return ids


async def dependent_agents(
    session: AsyncSession, document_ids: Iterable[str]
) -> dict[str, list[DependentAgent]]:
    """For each of ``document_ids``, the agents whose config attaches it (ids without agents map to [])."""
    wanted = set(document_ids)
    found: dict[str, list[DependentAgent]] = {doc_id: [] for doc_id in wanted}
    if not wanted:
        return found
    # Attachments live inside JSON, which SQLite and PostgreSQL query differently; agents are few.
    query = select(AgentRow.agent_id, AgentRow.name, AgentRow.created_at, AgentRow.conversation_config)
    for agent_id, name, created_at, config in (await session.execute(query)).all():
        for doc_id in attached_document_ids(config):
            if doc_id in wanted:
                found[doc_id].append(DependentAgent(agent_id, name, as_utc(created_at)))
    return found
