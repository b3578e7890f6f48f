"""``sdr-agent kb``: ingest files (and attach them to an agent), list, query and delete documents."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sdr_agent.knowledge.attachments import agent_document_ids, attach_documents
from sdr_agent.knowledge.extract import SUPPORTED_EXTENSIONS, ExtractionError
from sdr_agent.knowledge.ingest import (
    DocumentInUseError,
    DocumentNotFoundError,
    delete_document,
    ingest_file_bytes,
)
from sdr_agent.knowledge.store import knowledge_store
from sdr_agent.services import Services
from sdr_agent.storage.db import Database
from sdr_agent.storage.migrate import upgrade_async
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import knowledge as knowledge_repo
from sdr_agent.storage.repos.knowledge import KnowledgeDocument

app = typer.Typer(help="knowledge-base commands", no_args_is_help=True)
T = TypeVar("T")


def _run(work: Callable[[Services], Awaitable[T]]) -> T:
    from sdr_agent.settings import get_settings

    async def _main() -> T:
        settings = get_settings()
        await upgrade_async(settings.database_url)
        services = Services(settings=settings, db=Database(settings.database_url))
        try:
            return await work(services)
        finally:
            await services.db.dispose()

    return asyncio.run(_main())


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; directories contribute their supported files (recursively, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)
            files.extend(sorted(found))
        else:
            files.append(path)
    return files


@app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(..., help="files (.txt .md .pdf .html .docx) or folders of them"),
    agent: str | None = typer.Option(None, "--agent", help="attach the documents to this agent"),
    name: str | None = typer.Option(None, "--name", help="document name (only with a single file)"),
) -> None:
    """Ingest documents into the knowledge base, with a progress bar."""
    console = Console()
    files = expand_paths(paths)
    if not files:
        console.print("[red]no supported files found[/]")
        raise typer.Exit(1)
    if name and len(files) > 1:
        console.print("[red]--name needs exactly one file[/]")
        raise typer.Exit(2)

    async def work(services: Services) -> int:
        if agent:
            async with services.db.session() as session:
                if await agents_repo.get_agent(session, agent) is None:
                    console.print(f"[red]agent {agent!r} not found[/]")
                    return 1
        stored: list[KnowledgeDocument] = []
        failures = 0
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for path in files:
                progress.update(task, description=f"ingesting {path.name}")
                try:
                    doc = await ingest_file_bytes(services, path.read_bytes(), path.name, name=name)
                except (OSError, ExtractionError) as exc:
                    failures += 1
                    progress.console.print(f"[red]✗ {path}: {exc}[/]")
                else:
                    stored.append(doc)
                    done = f"{path} → {doc.document_id} ({doc.chunk_count} chunks)"
                    progress.console.print(f"[green]✓[/] {done}")
                progress.advance(task)
        if agent and stored:
            async with services.db.session() as session:
                attached = await attach_documents(session, agent, stored)
            console.print(f"agent {agent} now attaches {len(attached or [])} document(s)")
        return 1 if failures else 0

    raise typer.Exit(_run(work))


@app.command("list")
def list_documents(
    search: str | None = typer.Option(None, help="case-insensitive substring of the name"),
    limit: int = typer.Option(30, min=1, max=100, help="how many (newest first)"),
) -> None:
    """List knowledge-base documents, newest first."""

    async def work(services: Services) -> None:
        async with services.db.session() as session:
            page = await knowledge_repo.list_documents(session, search=search, page_size=limit)
        table = Table("id", "name", "type", "chunks", "bytes", "created (UTC)")
        for doc in page.items:
            table.add_row(doc.document_id, doc.name, doc.doc_type, str(doc.chunk_count), str(doc.size_bytes),
                          doc.created_at.strftime("%Y-%m-%d %H:%M:%S"))
        Console().print(table)
        if page.has_more:
            Console(stderr=True).print(f"(more than {limit}; use --limit or --search)")

    _run(work)


@app.command("query")
def query(
    question: str = typer.Argument(..., help="what a caller might ask"),
    agent: str = typer.Option(..., "--agent", help="search the documents this agent attaches"),
    k: int = typer.Option(3, "-k", min=1, max=20, help="how many chunks"),
) -> None:
    """Show the chunks an agent would retrieve for a question, with timings."""
    console = Console()

    async def work(services: Services) -> int:
        async with services.db.session() as session:
            doc_ids = await agent_document_ids(session, agent)
        if doc_ids is None:
            console.print(f"[red]agent {agent!r} not found[/]")
            return 1
        if not doc_ids:
            console.print(f"agent {agent} attaches no documents")
            return 0
        store = knowledge_store(services)
        started = time.perf_counter()
        await asyncio.to_thread(store.embedder.embed, ["warm up"])
        load_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        passages = await store.query(question, doc_ids, k)
        query_ms = (time.perf_counter() - started) * 1000
        table = Table("#", "score", "source", "document", "text")
        for rank, passage in enumerate(passages, 1):
            table.add_row(
                str(rank), f"{passage.score:.3f}", passage.source_id, passage.document_name, passage.text
            )
        console.print(table)
        console.print(f"query {query_ms:.1f} ms (embedding + top-{k} over {len(doc_ids)} document(s)); "
                      f"model load {load_ms:.0f} ms")
        return 0

    raise typer.Exit(_run(work))


@app.command("delete")
def delete(
    document_id: str = typer.Argument(..., help="the document's id (doc_...)"),
    force: bool = typer.Option(False, "--force", help="also detach it from agents that use it"),
) -> None:
    """Delete a document and its chunks."""
    console = Console()

    async def work(services: Services) -> int:
        try:
            detached = await delete_document(services, document_id, force=force)
        except (DocumentNotFoundError, DocumentInUseError) as exc:
            console.print(f"[red]{exc}[/]")
            return 1
        suffix = f" (detached from {', '.join(detached)})" if detached else ""
        console.print(f"deleted {document_id}{suffix}")
        return 0

    raise typer.Exit(_run(work))
