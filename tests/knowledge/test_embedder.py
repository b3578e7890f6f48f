from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdr_agent.knowledge.embedder import MiniLMEmbedder, ModelFilesMissingError, locate_model_dir

PARITY_SENTENCES = [
    "The Team plan costs 49 dollars per user per month.",
    "How much does it cost?",
    "We integrate with Salesforce and HubSpot.",
    "Is my data encrypted at rest?",
    "Can I try it for free first?",
    "Hello",
    "",
    "Réunion à Genève — le prix est de 5 €.",
    "one two three " * 150,  # longer than the 256-token limit: both sides must truncate alike
    "Meetings can be booked Monday to Friday between 9 AM and 5 PM Eastern time.",
]


def test_vectors_are_384_d_l2_normalised_float32(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["first sentence", "a second, longer sentence about pricing"])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_and_order_do_not_change_vectors(embedder: MiniLMEmbedder) -> None:
    texts = ["short", "a much longer sentence with many more word pieces in it than the first", "mid one"]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_empty_input_gives_empty_matrix(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_a_bare_string_is_rejected(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("not a list")


def test_similar_meaning_is_closer_than_unrelated(embedder: MiniLMEmbedder) -> None:
    price, paraphrase, unrelated = embedder.embed(
        ["The Team plan costs 49 dollars per user per month.", "How much is the Team plan?",
         "Our office dog is called Biscuit."]
    )
    assert float(price @ paraphrase) > float(price @ unrelated) + 0.2


def test_missing_model_files_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesMissingError):
        MiniLMEmbedder(model_dir=tmp_path).embed(["x"])


def test_parity_with_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference_model = sentence_transformers.SentenceTransformer(str(locate_model_dir()), device="cpu")
    reference = reference_model.encode(PARITY_SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    ours = embedder.embed(PARITY_SENTENCES)
    cosines = (ours * reference).sum(axis=1)
    print("cosine vs sentence-transformers:", np.round(cosines, 6).tolist())
    assert cosines.min() >= 0.999


def test_a_repeated_query_is_served_from_the_cache_and_callers_cannot_corrupt_it() -> None:
    embedder = MiniLMEmbedder()
    first = embedder.embed(["How much is the Team plan?"])
    first[0, :] = 0.0  # a caller scribbling on its result must not change what the next caller gets
    again = embedder.embed(["How much is the Team plan?"])
    np.testing.assert_allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
    fresh = embedder.embed(["How much is the Team plan?", "something else"])[:1]
    np.testing.assert_allclose(again, fresh, atol=1e-5)
    assert list(embedder._queries) == ["How much is the Team plan?"]  # documents (batches) are not cached
