from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from kb_samples import GLOBEX_KB, GLOBEX_QUESTIONS

from sdr_agent.knowledge.chroma_client import open_chroma
from sdr_agent.knowledge.embedder import MiniLMEmbedder
from sdr_agent.knowledge.store import KnowledgeStore
from sdr_agent.knowledge.vector_cache import DocumentVectors, VectorCache


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    matrix = rng.standard_normal((rows, 8)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _docs(rng: np.random.Generator, sizes: dict[str, int]) -> dict[str, DocumentVectors]:
    return {
        doc: DocumentVectors(
            tuple(f"{doc}#{i}" for i in range(n)), tuple(f"text {doc} {i}" for i in range(n)), (doc,) * n,
            _unit(rng, n),
        )
        for doc, n in sizes.items()
    }


class _Loader:
    def __init__(self, available: dict[str, DocumentVectors]) -> None:
        self.available = available
        self.calls: list[list[str]] = []

    def __call__(self, ids: Sequence[str]) -> dict[str, DocumentVectors]:
        self.calls.append(list(ids))
        return {d: self.available[d] for d in ids if d in self.available}


def test_search_is_exact_top_k_over_the_requested_documents_only() -> None:
    rng = np.random.default_rng(1)
    docs = _docs(rng, {"a": 30, "b": 20, "c": 25})
    cache = VectorCache(_Loader(docs))
    query = _unit(rng, 1)[0]
    found = cache.search(query, ["b", "a"], k=5)
    assert found is not None
    both = np.vstack([docs["a"].matrix, docs["b"].matrix])
    ids = docs["a"].ids + docs["b"].ids
    expected = [ids[i] for i in np.argsort(-(both @ query))[:5]]
    assert [p.source_id for p in found] == expected
    assert all(p.source_id[0] in "ab" for p in found)
    assert found[0].score >= found[-1].score


def test_documents_are_loaded_once_and_forgotten_on_change() -> None:
    rng = np.random.default_rng(2)
    loader = _Loader(_docs(rng, {"a": 3, "b": 3}))
    cache = VectorCache(loader)
    query = _unit(rng, 1)[0]
    cache.search(query, ["a", "b"], k=2)
    cache.search(query, ["b", "a"], k=2)
    cache.search(query, ["a"], k=2)
    assert loader.calls == [["a", "b"]]
    cache.forget("a")
    cache.search(query, ["a", "b"], k=2)
    assert loader.calls[-1] == ["a"]


def test_a_document_without_chunks_is_looked_up_again() -> None:
    rng = np.random.default_rng(3)
    loader = _Loader({})
    cache = VectorCache(loader)
    query = _unit(rng, 1)[0]
    assert cache.search(query, ["late"], k=3) == []
    loader.available = _docs(rng, {"late": 2})
    assert sorted(p.source_id for p in cache.search(query, ["late"], k=3) or []) == ["late#0", "late#1"]


def test_over_the_budget_the_caller_is_told_to_ask_chroma() -> None:
    rng = np.random.default_rng(4)
    cache = VectorCache(_Loader(_docs(rng, {"a": 6, "b": 6})), max_chunks=10)
    query = _unit(rng, 1)[0]
    assert cache.search(query, ["a", "b"], k=3) is None
    assert cache.search(query, ["a"], k=3) is not None
    assert VectorCache(_Loader({}), max_chunks=0).search(query, ["a"], k=3) is None


def test_unused_documents_are_evicted_past_the_budget() -> None:
    rng = np.random.default_rng(5)
    cache = VectorCache(_Loader(_docs(rng, {"a": 6, "b": 6, "c": 6})), max_chunks=12)
    query = _unit(rng, 1)[0]
    for doc in ("a", "b", "c"):
        assert cache.search(query, [doc], k=1) is not None
    assert cache.cached_chunks <= 12


async def test_cached_and_chroma_answers_agree(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    path = tmp_path / "chroma"
    cached = KnowledgeStore(lambda: open_chroma(None, path), embedder, collection_name="kb_same")
    direct = KnowledgeStore(lambda: open_chroma(None, path), embedder, collection_name="kb_same",
                            cache_max_chunks=0)
    await cached.add_document("doc_g", "Globex", "", GLOBEX_KB)
    await cached.add_document("doc_x", "Other", "", "## Hours\nThe shop opens at seven.")
    for question, _ in GLOBEX_QUESTIONS:
        a = await cached.query(question, ["doc_g", "doc_x"], k=3)
        b = await direct.query(question, ["doc_g", "doc_x"], k=3)
        assert [p.source_id for p in a] == [p.source_id for p in b]
        assert [p.text for p in a] == [p.text for p in b]
        np.testing.assert_allclose([p.score for p in a], [p.score for p in b], atol=1e-4)
