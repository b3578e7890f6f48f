"""In-process copy of the chunk vectors of the documents agents query, for exact top-k in numpy.

Chroma answers a filtered query (``where document_id $in [...]``) by fetching every matching id from its
metadata store and scanning them: ~100 ms when an agent attaches 10k chunks, against ~1 ms for a
matrix-vector product here. Vectors are loaded from Chroma with that same filter the first time a document
is queried, and dropped when this process adds or deletes the document. Document ids are never reused
(a new upload gets a new id), so a copy cannot go stale through the API; past ``max_chunks`` the store
falls back to querying Chroma directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sdr_agent.engines.base import ContextPassage

F32 = NDArray[np.float32]
_STACK_CACHE_SIZE = 32


@dataclass(frozen=True, slots=True)
class DocumentVectors:
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    names: tuple[str, ...]
    matrix: F32  # (chunks, dimension), rows L2-normalised


@dataclass(frozen=True, slots=True)
class _Stack:
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    names: tuple[str, ...]
    matrix: F32


# Loads {document_id: DocumentVectors} for the given ids (documents without chunks are left out).
Loader = Callable[[Sequence[str]], dict[str, DocumentVectors]]


class VectorCache:
    def __init__(self, loader: Loader, max_chunks: int = 200_000) -> None:
        self._loader = loader
        self.max_chunks = max_chunks
        self._documents: dict[str, DocumentVectors] = {}
        self._stacks: OrderedDict[tuple[str, ...], _Stack] = OrderedDict()
        self._chunks = 0
        self._lock = threading.Lock()

    @property
    def cached_chunks(self) -> int:
        return self._chunks

    def forget(self, document_id: str) -> None:
        with self._lock:
            dropped = self._documents.pop(document_id, None)
            if dropped is not None:
                self._chunks -= len(dropped.ids)
            self._stacks.clear()

    def search(self, query: F32, document_ids: Sequence[str], k: int) -> list[ContextPassage] | None:
        """Exact cosine top-k over the documents' chunks, or None when they do not fit in the cache."""
        if self.max_chunks <= 0:
            return None
        key = tuple(sorted(set(document_ids)))
        stack = self._stack(key)
        if stack is None:
            return None
        if not stack.ids:
            return []
        scores = stack.matrix @ query.astype(np.float32).reshape(-1)
        take = min(k, len(scores))
        best = np.argpartition(-scores, take - 1)[:take]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [
            ContextPassage(text=stack.texts[i], source_id=stack.ids[i], document_name=stack.names[i],
                           score=round(float(scores[i]), 6))
            for i in best
        ]

    def _stack(self, key: tuple[str, ...]) -> _Stack | None:
        with self._lock:
            stack = self._stacks.get(key)
            if stack is not None:
                self._stacks.move_to_end(key)
                return stack
        missing = [d for d in key if d not in self._documents]
        loaded = self._loader(missing) if missing else {}
        with self._lock:
            for doc_id, vectors in loaded.items():
                if doc_id not in self._documents:
                    self._documents[doc_id] = vectors
                    self._chunks += len(vectors.ids)
            parts = [self._documents[d] for d in key if d in self._documents]
            if sum(len(p.ids) for p in parts) > self.max_chunks:
                return None
            stack = _stack_of(parts)
            # A document without chunks (yet) is looked up again next time rather than remembered as empty.
            if len(parts) == len(key):
                self._stacks[key] = stack
                self._trim_stacks()
            self._evict_unused()
            return stack

    def _trim_stacks(self) -> None:
        while len(self._stacks) > 1 and (
            len(self._stacks) > _STACK_CACHE_SIZE
            or sum(len(s.ids) for s in self._stacks.values()) > self.max_chunks
        ):
            self._stacks.popitem(last=False)

    def _evict_unused(self) -> None:
        """Past the chunk budget, drop documents that no cached stack uses."""
        if self._chunks <= self.max_chunks:
            return
        in_use = {doc_id for key in self._stacks for doc_id in key}
        for doc_id in [d for d in self._documents if d not in in_use]:
            self._chunks -= len(self._documents.pop(doc_id).ids)
            if self._chunks <= self.max_chunks:
                return


def _stack_of(parts: list[DocumentVectors]) -> _Stack:
    if not parts:
        return _Stack((), (), (), np.zeros((0, 0), dtype=np.float32))
    return _Stack(
        ids=tuple(i for p in parts for i in p.ids),
        texts=tuple(t for p in parts for t in p.texts),
        names=tuple(n for p in parts for n in p.names),
        matrix=np.ascontiguousarray(np.vstack([p.matrix for p in parts]), dtype=np.float32),
    )


def passage_text(text: Any, heading: Any) -> str:
    """A chunk as the dialogue gets it: its section heading on a "# " line first, so a terse sentence
    ("It runs credit checks.") can be matched by what the caller asks about ("screening")."""
    body = str(text or "")
    title = str(heading or "").strip()
    return f"# {title}\n{body}" if title and not body.lstrip().startswith("#") else body


def vectors_from_chroma_get(result: dict[str, Any]) -> dict[str, DocumentVectors]:
    """Group a Chroma ``get(include=[embeddings, documents, metadatas])`` result by document, chunk order."""
    rows: dict[str, list[tuple[int, str, str, str, Any]]] = {}
    ids = result.get("ids") or []
    embeddings = result.get("embeddings")
    documents = result.get("documents") or [""] * len(ids)
    metadatas = result.get("metadatas") or [{}] * len(ids)
    if embeddings is None:
        return {}
    for chunk_id, vector, text, meta in zip(ids, embeddings, documents, metadatas, strict=False):
        meta = meta or {}
        doc_id = str(meta.get("document_id", ""))
        index = int(meta.get("chunk_index", 0))
        rows.setdefault(doc_id, []).append((index, str(chunk_id), passage_text(text, meta.get("heading")),
                                            str(meta.get("document_name", "")), vector))
    grouped: dict[str, DocumentVectors] = {}
    for doc_id, chunk_rows in rows.items():
        chunk_rows.sort(key=lambda row: row[0])
        matrix = np.asarray([row[4] for row in chunk_rows], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        grouped[doc_id] = DocumentVectors(
            ids=tuple(row[1] for row in chunk_rows),
            texts=tuple(row[2] for row in chunk_rows),
            names=tuple(row[3] for row in chunk_rows),
            matrix=matrix / np.maximum(norms, 1e-12),
        )
    return grouped
