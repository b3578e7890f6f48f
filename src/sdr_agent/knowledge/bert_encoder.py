"""A BERT encoder forward pass in numpy, for the 22 M-parameter MiniLM: no torch needed to embed text.

Reads the Hugging Face ``BertModel`` weight names from a safetensors file. Inference only (no dropout).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file

F32 = NDArray[np.float32]

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution of the activations it feeds.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


@dataclass(frozen=True, slots=True)
class BertConfig:
    hidden_size: int
    num_layers: int
    num_heads: int
    layer_norm_eps: float
    max_positions: int

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported activation {raw.get('hidden_act')!r} in {path}")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"unsupported position embeddings in {path}")
        return cls(
            hidden_size=int(raw["hidden_size"]),
            num_layers=int(raw["num_hidden_layers"]),
            num_heads=int(raw["num_attention_heads"]),
            layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
            max_positions=int(raw.get("max_position_embeddings", 512)),
        )


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: F32  # (hidden, 3*hidden), transposed so activations multiply on the left
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_g: F32
    ln1_b: F32
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    ln2_g: F32
    ln2_b: F32


def _erf(x: F32) -> F32:
    sign = np.sign(x)
    ax = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + _ERF_P * ax)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = ((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t
    result: F32 = sign * (np.float32(1.0) - poly * np.exp(-ax * ax))
    return result


def _gelu(x: F32) -> F32:
    result: F32 = np.float32(0.5) * x * (np.float32(1.0) + _erf(x * np.float32(1 / np.sqrt(2.0))))
    return result


def _layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    result: F32 = centered / np.sqrt(var + np.float32(eps)) * gamma + beta
    return result


class BertEncoder:
    """``encode(input_ids, attention_mask) -> last hidden states`` of shape (batch, seq, hidden)."""

    def __init__(self, weights_path: Path, config: BertConfig) -> None:
        tensors = load_file(str(weights_path))
        self.config = config

        def get(name: str) -> F32:
            if name not in tensors:
                raise ValueError(f"weight {name!r} missing from {weights_path}")
            return np.ascontiguousarray(tensors[name], dtype=np.float32)

        self._word = get("embeddings.word_embeddings.weight")
        self._position = get("embeddings.position_embeddings.weight")
        self._token_type = get("embeddings.token_type_embeddings.weight")
        self._emb_ln_g = get("embeddings.LayerNorm.weight")
        self._emb_ln_b = get("embeddings.LayerNorm.bias")
        self._layers = [self._load_layer(get, i) for i in range(config.num_layers)]

    @staticmethod
    def _load_layer(fetch: Callable[[str], F32], index: int) -> _Layer:
        p = f"encoder.layer.{index}."
        q, k, v = (fetch(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
        qb, kb, vb = (fetch(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
        return _Layer(
            qkv_w=np.ascontiguousarray(np.concatenate([q, k, v], axis=0).T),
            qkv_b=np.concatenate([qb, kb, vb]),
            out_w=np.ascontiguousarray(fetch(p + "attention.output.dense.weight").T),
            out_b=fetch(p + "attention.output.dense.bias"),
            ln1_g=fetch(p + "attention.output.LayerNorm.weight"),
            ln1_b=fetch(p + "attention.output.LayerNorm.bias"),
            up_w=np.ascontiguousarray(fetch(p + "intermediate.dense.weight").T),
            up_b=fetch(p + "intermediate.dense.bias"),
            down_w=np.ascontiguousarray(fetch(p + "output.dense.weight").T),
            down_b=fetch(p + "output.dense.bias"),
            ln2_g=fetch(p + "output.LayerNorm.weight"),
            ln2_b=fetch(p + "output.LayerNorm.bias"),
        )

    def encode(self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]) -> F32:
        batch, seq = input_ids.shape
        if seq > self.config.max_positions:
            raise ValueError(f"sequence of {seq} tokens exceeds {self.config.max_positions} positions")
        eps = self.config.layer_norm_eps
        hidden = self._word[input_ids] + self._position[:seq][None, :, :] + self._token_type[0]
        hidden = _layer_norm(hidden, self._emb_ln_g, self._emb_ln_b, eps).reshape(batch * seq, -1)
        # Padding positions get -inf-like scores so softmax ignores them.
        bias = ((1.0 - attention_mask.astype(np.float32)) * np.float32(-1e9))[:, None, None, :]
        for layer in self._layers:
            hidden = self._layer_forward(hidden, layer, bias, batch, seq)
        out: F32 = hidden.reshape(batch, seq, self.config.hidden_size)
        return out

    def _layer_forward(self, hidden: F32, layer: _Layer, bias: F32, batch: int, seq: int) -> F32:
        """``hidden`` is (batch*seq, hidden), so each dense layer is one 2-D GEMM."""
        cfg = self.config
        heads = cfg.num_heads
        head_dim = cfg.hidden_size // heads
        qkv = hidden @ layer.qkv_w + layer.qkv_b  # (b*s, 3h)
        qkv = qkv.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)  # (3, b, heads, s, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1.0 / np.sqrt(head_dim)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, cfg.hidden_size)
        attended = _layer_norm(context @ layer.out_w + layer.out_b + hidden, layer.ln1_g, layer.ln1_b,
                               cfg.layer_norm_eps)
        inner = _gelu(attended @ layer.up_w + layer.up_b)
        return _layer_norm(inner @ layer.down_w + layer.down_b + attended, layer.ln2_g, layer.ln2_b,
                           cfg.layer_norm_eps)
