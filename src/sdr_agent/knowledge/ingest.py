"""Ingestion and deletion of knowledge documents: the database row and the vector-store chunks together.

Chunks are written before the row, and removed again if the row cannot be written, so a listed document
always has its chunks. Deletion removes the row first: leftover chunks of a deleted document are never
searched (no agent can attach a document that does not exist), the reverse would leave a listed
document that answers nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sdr_agent.knowledge.attachments import detach_document
from sdr_agent.knowledge.extract import DocumentFormat, ExtractionError, detect_format
from sdr_agent.knowledge.extract_worker import ExtractLimits, extract_isolated
from sdr_agent.knowledge.store import knowledge_store
from sdr_agent.services import Services
from sdr_agent.settings import Settings
from sdr_agent.storage.repos import knowledge as knowledge_repo
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.knowledge import DependentAgent, KnowledgeDocument

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 255


class DocumentNotFoundError(LookupError):
    def __init__(self, document_id: str) -> None:
        super().__init__(f"knowledge base document '{document_id}' not found")
        self.document_id = document_id


class DocumentInUseError(RuntimeError):
    """Deleting without ``force`` a document that agents still attach."""

    def __init__(self, document_id: str, agents: list[DependentAgent]) -> None:
        names = ", ".join(a.agent_id for a in agents)
        super().__init__(
            f"knowledge base document '{document_id}' is attached to agent(s) {names}; "
            "detach it first or delete with force=true"
        )
        self.agents = agents


@dataclass(frozen=True, slots=True)
class NewDocument:
    name: str
    doc_type: str  # text | file | url
    text: str
    source: str | None = None  # url or filename
    size_bytes: int | None = None  # of the original upload; defaults to the text's UTF-8 size


def extract_limits(settings: Settings) -> ExtractLimits:
    sec = settings.security
    return ExtractLimits(
        cpu_s=sec.extract_cpu_s, memory_mb=sec.extract_memory_mb, timeout_s=sec.extract_timeout_s,
        max_chars=sec.extract_max_chars, max_unzipped_bytes=sec.extract_max_unzipped_bytes,
        concurrency=sec.extract_concurrency,
    )


def safe_filename(filename: str) -> str:
    """The last path segment of a client's file name (either slash), without control characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:MAX_NAME_CHARS]


def clean_name(name: str | None, fallback: str) -> str:
    cleaned = " ".join((name or "").split()) or " ".join(fallback.split()) or "Untitled"
    return cleaned[:MAX_NAME_CHARS]


async def ingest(services: Services, document: NewDocument) -> KnowledgeDocument:
    """Store a document's chunks and its row. Raises ExtractionError when the text is empty."""
    if not document.text.strip():
        raise ExtractionError("the document contains no text")
    document_id = new_id("doc")
    size_bytes = document.size_bytes if document.size_bytes is not None else len(document.text.encode())
    store = knowledge_store(services)
    chunk_count = await store.add_document(document_id, document.name, document.source or "", document.text)
    try:
        async with services.db.session() as session:
            record = await knowledge_repo.create_document(
                session,
                document_id=document_id,
                name=document.name,
                doc_type=document.doc_type,
                source=document.source,
                content=document.text,
                size_bytes=size_bytes,
                chunk_count=chunk_count,
            )
    except BaseException:
        await asyncio.shield(store.delete_document(document_id))
        raise
    log.info("knowledge document %s stored: %d chunks", document_id, chunk_count)
    return record


async def ingest_file_bytes(
    services: Services,
    data: bytes,
    filename: str,
    *,
    name: str | None = None,
    content_type: str | None = None,
    fmt: DocumentFormat | None = None,
) -> KnowledgeDocument:
    """Extract and ingest an uploaded file. Raises UnsupportedFormatError / ExtractionError."""
    fmt = fmt or detect_format(filename, content_type)
    extracted = await extract_isolated(data, fmt, extract_limits(services.settings))
    base = safe_filename(filename)
    return await ingest(
        services,
        NewDocument(
            name=clean_name(name, extracted.title or base),
            doc_type="file",
            text=extracted.text,
            source=base or None,
            size_bytes=len(data),
        ),
    )


async def delete_document(services: Services, document_id: str, *, force: bool = False) -> list[str]:
    """Delete the row and its chunks. Without ``force`` a document that agents attach is refused
    (DocumentInUseError); with it, it is detached from them first. Returns the detached agents' ids."""
    async with services.db.session() as session:
        if await knowledge_repo.get_document(session, document_id) is None:
            raise DocumentNotFoundError(document_id)
        dependents = (await knowledge_repo.dependent_agents(session, [document_id]))[document_id]
        if dependents and not force:
            raise DocumentInUseError(document_id, dependents)
        detached = await detach_document(session, document_id) if dependents else []
        await knowledge_repo.delete_document(session, document_id)
    try:
        await knowledge_store(services).delete_document(document_id)
    except Exception:
        log.exception("chunks of deleted knowledge document %s could not be removed", document_id)
    return detached
