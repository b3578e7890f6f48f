"""Knowledge base: ``/v1/convai/knowledge-base`` (create from text, file or URL; list, get, delete)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from sdr_agent.api.deps import ServicesDep, SessionDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.agents import AccessInfo
from sdr_agent.api.schemas.paging import DEFAULT_PAGE, CursorQuery, PageSizeQuery, invalid_cursor
from sdr_agent.knowledge.embedder import ModelFilesMissingError
from sdr_agent.knowledge.extract import ExtractionError, UnsupportedFormatError, detect_format
from sdr_agent.knowledge.extract_worker import extract_isolated
from sdr_agent.knowledge.fetch_url import (
    FetchBlockedError,
    FetchError,
    FetchTooLargeError,
    FetchUnsupportedTypeError,
    fetch_url,
    fetched_format,
)
from sdr_agent.knowledge.ingest import (
    DocumentInUseError,
    DocumentNotFoundError,
    NewDocument,
    clean_name,
    delete_document,
    extract_limits,
    ingest,
    ingest_file_bytes,
)
from sdr_agent.knowledge.render import text_to_html
from sdr_agent.security.urls import policy_from_entries
from sdr_agent.services import Services
from sdr_agent.storage.repos import knowledge as knowledge_repo
from sdr_agent.storage.repos.knowledge import DependentAgent, KnowledgeDocument
from sdr_agent.storage.repos.pagination import InvalidCursorError
from sdr_agent.storage.repos.timeutil import unix_secs

router = APIRouter(
    prefix="/v1/convai/knowledge-base", tags=["knowledge-base"], dependencies=[Depends(require_api_key)]
)

SUPPORTED_USAGES = ["prompt", "auto"]
DocumentType = Literal["text", "file", "url"]


# ---------------------------------------------------------------- request / response shapes
class TextDocumentRequest(BaseModel):
    text: str = Field(min_length=1)
    name: str | None = Field(default=None, max_length=255)
    parent_folder_id: str | None = None  # accepted for SDK compatibility; folders are not modelled


class UrlDocumentRequest(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    name: str | None = Field(default=None, max_length=255)
    parent_folder_id: str | None = None


class AddDocumentResponse(BaseModel):
    id: str
    name: str
    folder_path: list[dict[str, Any]] = Field(default_factory=list)


class DocumentMetadata(BaseModel):
    created_at_unix_secs: int
    last_updated_at_unix_secs: int
    size_bytes: int


class DependentAgentItem(BaseModel):
    type: Literal["available"] = "available"
    id: str
    name: str
    created_at_unix_secs: int
    access_level: str = "admin"

    @classmethod
    def from_record(cls, agent: DependentAgent) -> DependentAgentItem:
        return cls(id=agent.agent_id, name=agent.name, created_at_unix_secs=unix_secs(agent.created_at) or 0)


class DocumentSummary(BaseModel):
    type: str
    id: str
    name: str
    metadata: DocumentMetadata
    supported_usages: list[str] = Field(default_factory=lambda: list(SUPPORTED_USAGES))
    access_info: AccessInfo = Field(default_factory=AccessInfo)
    folder_parent_id: str | None = None
    folder_path: list[dict[str, Any]] = Field(default_factory=list)
    dependent_agents: list[DependentAgentItem] = Field(default_factory=list)
    url: str | None = None
    filename: str | None = None


class DocumentDetail(BaseModel):
    type: str
    id: str
    name: str
    metadata: DocumentMetadata
    supported_usages: list[str] = Field(default_factory=lambda: list(SUPPORTED_USAGES))
    access_info: AccessInfo = Field(default_factory=AccessInfo)
    folder_parent_id: str | None = None
    folder_path: list[dict[str, Any]] = Field(default_factory=list)
    extracted_inner_html: str
    url: str | None = None
    filename: str | None = None
    chunk_count: int


class DocumentsPage(BaseModel):
    documents: list[DocumentSummary]
    next_cursor: str | None
    has_more: bool


class DependentAgentsPage(BaseModel):
    agents: list[DependentAgentItem]
    next_cursor: str | None = None
    has_more: bool = False


def _metadata(doc: KnowledgeDocument) -> DocumentMetadata:
    return DocumentMetadata(
        created_at_unix_secs=unix_secs(doc.created_at) or 0,
        last_updated_at_unix_secs=unix_secs(doc.updated_at) or 0,
        size_bytes=doc.size_bytes,
    )


def _source_fields(doc: KnowledgeDocument) -> dict[str, str]:
    if doc.doc_type == "url" and doc.source:
        return {"url": doc.source}
    if doc.doc_type == "file":
        return {"filename": doc.source or doc.name}
    return {}


def _summary(doc: KnowledgeDocument, agents: list[DependentAgent]) -> DocumentSummary:
    return DocumentSummary(
        type=doc.doc_type,
        id=doc.document_id,
        name=doc.name,
        metadata=_metadata(doc),
        dependent_agents=[DependentAgentItem.from_record(a) for a in agents],
        **_source_fields(doc),
    )


def _detail(doc: KnowledgeDocument) -> DocumentDetail:
    return DocumentDetail(
        type=doc.doc_type,
        id=doc.document_id,
        name=doc.name,
        metadata=_metadata(doc),
        extracted_inner_html=text_to_html(doc.content),
        chunk_count=doc.chunk_count,
        **_source_fields(doc),
    )


def _bad_request(exc: Exception, status_code: int = 400) -> HTTPException:
    return HTTPException(status_code=status_code, detail=str(exc))


@contextmanager
def _ingest_errors() -> Iterator[None]:
    """How ingestion failures reach the client, the same for every upload route."""
    try:
        yield
    except ExtractionError as exc:
        raise _bad_request(exc) from exc
    except ModelFilesMissingError as exc:
        raise HTTPException(status_code=503, detail=f"knowledge base unavailable: {exc}") from exc


async def _store(services: Services, document: NewDocument) -> AddDocumentResponse:
    with _ingest_errors():
        record = await ingest(services, document)
    return AddDocumentResponse(id=record.document_id, name=record.name)


# ---------------------------------------------------------------- routes
@router.post("/text", response_model=AddDocumentResponse)
async def create_from_text(body: TextDocumentRequest, services: ServicesDep) -> AddDocumentResponse:
    text = body.text.strip()
    if not text:
        raise HTTPException(status_code=400, detail="text is empty")
    first_line = text.splitlines()[0].lstrip("# ")[:80]
    document = NewDocument(name=clean_name(body.name, first_line), doc_type="text", text=text)
    return await _store(services, document)


@router.post("/file", response_model=AddDocumentResponse)
async def create_from_file(
    services: ServicesDep,
    file: Annotated[UploadFile, File(description=".txt, .md, .pdf, .html or .docx, at most 20 MiB")],
    name: Annotated[str | None, Form(max_length=255)] = None,
    parent_folder_id: Annotated[str | None, Form()] = None,
) -> AddDocumentResponse:
    filename = file.filename or ""
    try:
        fmt = detect_format(filename, file.content_type)
    except UnsupportedFormatError as exc:
        raise HTTPException(status_code=415, detail=str(exc)) from exc
    limit = services.settings.knowledge.max_file_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(status_code=413, detail=f"file exceeds the {limit // (1024 * 1024)} MiB limit")
    filename = filename or f"upload.{fmt.value}"
    with _ingest_errors():
        record = await ingest_file_bytes(services, data, filename, name=name, fmt=fmt)
    return AddDocumentResponse(id=record.document_id, name=record.name)


@router.post("/url", response_model=AddDocumentResponse)
async def create_from_url(body: UrlDocumentRequest, services: ServicesDep) -> AddDocumentResponse:
    kb = services.settings.knowledge
    policy = policy_from_entries(services.settings.security.url_allowlist)
    try:
        fetched = await fetch_url(
            body.url, timeout_s=kb.url_timeout_s, max_bytes=kb.url_max_bytes, policy=policy
        )
    except FetchTooLargeError as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from exc
    except FetchBlockedError as exc:
        raise RequestValidationError(
            [{"loc": ["body", "url"], "msg": str(exc), "type": "value_error.url_blocked"}]
        ) from exc
    except FetchUnsupportedTypeError as exc:
        raise HTTPException(status_code=415, detail=str(exc)) from exc
    except FetchError as exc:
        raise _bad_request(exc) from exc
    try:
        # Parsed in the limited worker process, never on the event loop.
        fmt = fetched_format(fetched)
        extracted = await extract_isolated(fetched.data, fmt, extract_limits(services.settings))
    except UnsupportedFormatError as exc:
        raise HTTPException(status_code=415, detail=str(exc)) from exc
    except ExtractionError as exc:
        raise _bad_request(exc) from exc
    document = NewDocument(
        name=clean_name(body.name, extracted.title or body.url),
        doc_type="url",
        text=extracted.text,
        source=body.url.strip(),
        size_bytes=len(fetched.data),
    )
    return await _store(services, document)


@router.get("", response_model=DocumentsPage)
async def list_documents(
    session: SessionDep,
    page_size: PageSizeQuery = DEFAULT_PAGE,
    search: str | None = None,
    cursor: CursorQuery = None,
    types: Annotated[list[DocumentType] | None, Query()] = None,
) -> DocumentsPage:
    try:
        page = await knowledge_repo.list_documents(
            session, search=search, doc_types=types, cursor=cursor, page_size=page_size
        )
    except InvalidCursorError as exc:
        raise invalid_cursor() from exc
    dependents = await knowledge_repo.dependent_agents(session, [d.document_id for d in page.items])
    return DocumentsPage(
        documents=[_summary(d, dependents[d.document_id]) for d in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{documentation_id}", response_model=DocumentDetail, response_model_exclude_none=True)
async def get_document(documentation_id: str, session: SessionDep) -> DocumentDetail:
    doc = await knowledge_repo.get_document(session, documentation_id)
    if doc is None:
        raise NotFoundError("knowledge base document", documentation_id)
    return _detail(doc)


@router.get("/{documentation_id}/content", response_class=HTMLResponse)
async def get_document_content(documentation_id: str, session: SessionDep) -> HTMLResponse:
    doc = await knowledge_repo.get_document(session, documentation_id)
    if doc is None:
        raise NotFoundError("knowledge base document", documentation_id)
    return HTMLResponse(text_to_html(doc.content))


@router.get("/{documentation_id}/dependent-agents", response_model=DependentAgentsPage)
async def get_dependent_agents(documentation_id: str, session: SessionDep) -> DependentAgentsPage:
    if await knowledge_repo.get_document(session, documentation_id) is None:
        raise NotFoundError("knowledge base document", documentation_id)
    agents = (await knowledge_repo.dependent_agents(session, [documentation_id]))[documentation_id]
    return DependentAgentsPage(agents=[DependentAgentItem.from_record(a) for a in agents])


@router.delete("/{documentation_id}")
async def delete(documentation_id: str, services: ServicesDep, force: bool = False) -> dict[str, Any]:
    try:
        await delete_document(services, documentation_id, force=force)
    except DocumentNotFoundError as exc:
        raise NotFoundError("knowledge base document", documentation_id) from exc
    except DocumentInUseError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return {}
