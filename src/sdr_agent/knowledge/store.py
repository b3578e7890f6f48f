"""The vector store of knowledge-base chunks: one Chroma collection (cosine), our own embeddings.

Chunk ids are ``<document_id>#<chunk_index>``; metadata carries document_id, document_name, source,
chunk_index and heading. A query only searches the documents it is given (the ones the calling agent
attaches), which is how "a document is visible only to agents that attach it" is enforced.
Chroma is blocking, so every public coroutine runs its work in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from sdr_agent.engines.base import ContextPassage, Embedder
from sdr_agent.knowledge.chroma_client import open_chroma
from sdr_agent.knowledge.chunking import ChunkingOptions, chunk_text
from sdr_agent.knowledge.embedder import shared_embedder
from sdr_agent.knowledge.vector_cache import (
    DocumentVectors,
    VectorCache,
    passage_text,
    vectors_from_chroma_get,
)
from sdr_agent.services import Services

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

_WRITE_BATCH = 500
# Embedding uploaded documents is long CPU work: it queues on its own thread, never in the default pool
# that call set-up and retrieval use (a flood of uploads must not delay a call's greeting).
_INGEST_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-ingest")


def chunk_id(document_id: str, index: int) -> str:
    return f"{document_id}#{index}"


class KnowledgeStore:
    def __init__(
        self,
        open_client: Callable[[], ClientAPI],
        embedder: Embedder,
        *,
        collection_name: str = "sdr_knowledge",
        chunking: ChunkingOptions | None = None,
        cache_max_chunks: int = 200_000,
    ) -> None:
        self._open_client = open_client
        self.embedder = embedder
        self._collection_name = collection_name
        self._chunking = chunking or ChunkingOptions()
        self._collection: Collection | None = None
        self._lock = threading.Lock()
        self._cache = VectorCache(self._load_vectors, max_chunks=cache_max_chunks)

    # ------------------------------------------------------------ async API (dialogue, REST, CLI)
    async def query(self, question: str, document_ids: Sequence[str], k: int = 3) -> list[ContextPassage]:
        """Top-``k`` chunks of the given documents best first (score: cosine similarity)."""
        return await asyncio.to_thread(self.query_sync, question, document_ids, k)

    async def add_document(self, document_id: str, name: str, source: str, text: str) -> int:
        """Chunk, embed and store a document (replacing any chunks it had). Returns the number of chunks."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _INGEST_POOL, self.add_document_sync, document_id, name, source, text
        )

    async def delete_document(self, document_id: str) -> None:
        await asyncio.get_running_loop().run_in_executor(_INGEST_POOL, self.delete_document_sync, document_id)

    async def count_chunks(self, document_id: str) -> int:
        return await asyncio.to_thread(self.count_chunks_sync, document_id)

    async def warm_up(self) -> None:
        """Load the embedding model and open the collection now, so a call's first question does not wait."""
        await asyncio.to_thread(self._warm_up_sync)

    def _warm_up_sync(self) -> None:
        self.embedder.embed(["warm up"])
        self.collection()

    # ------------------------------------------------------------ blocking implementations
    def collection(self) -> Collection:
        collection = self._collection
        if collection is not None:
            return collection
        with self._lock:
            if self._collection is None:
                client = self._open_client()
                # embedding_function=None: Chroma's default would download a model; we always pass vectors.
                self._collection = client.get_or_create_collection(
                    self._collection_name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                )
            return self._collection

    def query_sync(self, question: str, document_ids: Sequence[str], k: int = 3) -> list[ContextPassage]:
        ids = sorted({d for d in document_ids if d})
        if not ids or not question.strip() or k < 1:
            return []
        vector = self.embedder.embed([question])
        cached = self._cache.search(vector[0], ids, k)
        if cached is not None:
            return cached
        result = self.collection().query(
            query_embeddings=vector,
            n_results=k,
            where=_documents_filter(ids),
            include=cast(Any, ["documents", "metadatas", "distances"]),
        )
        found_ids = (result.get("ids") or [[]])[0]
        documents = (result.get("documents") or [[]])[0]
        metadatas = (result.get("metadatas") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        passages: list[ContextPassage] = []
        for source_id, text, meta, distance in zip(found_ids, documents, metadatas, distances, strict=False):
            passages.append(
                ContextPassage(
                    text=passage_text(text, (meta or {}).get("heading")),
                    source_id=str(source_id),
                    document_name=str((meta or {}).get("document_name", "")),
                    score=round(1.0 - float(distance), 6),
                )
            )
        return passages

    def add_document_sync(self, document_id: str, name: str, source: str, text: str) -> int:
        if not document_id:
            raise ValueError("document_id is required")
        chunks = chunk_text(text, self._chunking)
        self.delete_document_sync(document_id)
        if not chunks:
            return 0
        vectors = self.embedder.embed([chunk.text_for_embedding for chunk in chunks])
        collection = self.collection()
        for start in range(0, len(chunks), _WRITE_BATCH):
            batch = chunks[start:start + _WRITE_BATCH]
            collection.upsert(
                ids=[chunk_id(document_id, c.index) for c in batch],
                embeddings=vectors[start:start + len(batch)],
                documents=[c.text for c in batch],
                metadatas=[
                    {
                        "document_id": document_id,
                        "document_name": name,
                        "source": source or "",
                        "chunk_index": c.index,
                        "heading": c.heading,
                    }
                    for c in batch
                ],
            )
        self._cache.forget(document_id)
        return len(chunks)

    def delete_document_sync(self, document_id: str) -> None:
        self.collection().delete(where=cast(Any, {"document_id": document_id}))
        self._cache.forget(document_id)

    def _load_vectors(self, document_ids: Sequence[str]) -> dict[str, DocumentVectors]:
        result = self.collection().get(
            where=_documents_filter(document_ids), include=cast(Any, ["embeddings", "documents", "metadatas"])
        )
        return vectors_from_chroma_get(cast(dict[str, Any], result))

    def count_chunks_sync(self, document_id: str) -> int:
        found = self.collection().get(where=cast(Any, {"document_id": document_id}), include=[])
        return len(found.get("ids") or [])


def _documents_filter(document_ids: Sequence[str]) -> Any:
    ids = list(document_ids)
    return {"document_id": {"$in": ids}} if len(ids) > 1 else {"document_id": ids[0]}


def knowledge_store(services: Services) -> KnowledgeStore:
    """The process's store for these services, created on first use and kept in ``services.knowledge``."""
    if services.knowledge is not None:
        return services.knowledge
    settings = services.settings
    kb = settings.knowledge
    store = KnowledgeStore(
        lambda: open_chroma(settings.chroma_url, settings.chroma_path),
        shared_embedder(),
        collection_name=kb.collection,
        chunking=ChunkingOptions(kb.chunk_target_words, kb.chunk_max_words, kb.chunk_overlap_words),
        cache_max_chunks=kb.vector_cache_max_chunks,
    )
    services.knowledge = store
    return store
