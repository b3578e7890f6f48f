"""HTTP plumbing shared by the LLM adapters: one pooled client per engine, error bodies, JSON chunks."""

from __future__ import annotations

import json
from typing import Any

import httpx

from sdr_agent.engines.base import EngineError

CONNECT_TIMEOUT_S = 5.0


def new_client(read_timeout_s: float) -> httpx.AsyncClient:
    """``read_timeout_s`` bounds the gap between two streamed chunks, not the whole reply."""
    return httpx.AsyncClient(timeout=httpx.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S))


def error_detail(body: bytes) -> str:
    """The message out of ``{"error": "…"}`` / ``{"error": {"message": "…"}}``, else the body's start."""
    text = body.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return text[:200]
    if isinstance(payload, dict) and "error" in payload:
        return describe_error(payload["error"])
    return text[:200]


def describe_error(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)[:200]
    return str(error)[:200]


def load_chunk(raw: str, source: str) -> dict[str, Any]:
    """One streamed JSON object; anything else means the server is broken mid-reply."""
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EngineError(f"{source} sent a malformed chunk: {raw[:80]!r}") from exc
    if not isinstance(payload, dict):
        raise EngineError(f"{source} sent a chunk that is not an object: {raw[:80]!r}")
    if payload.get("error"):
        raise EngineError(f"{source} reported an error mid-stream: {describe_error(payload['error'])}")
    return payload
