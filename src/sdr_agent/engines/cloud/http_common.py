"""HTTP plumbing shared by the LLM adapters: one pooled client per engine, error bodies, JSON chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from sdr_agent.engines.base import EngineError

CONNECT_TIMEOUT_S = 5.0


def new_client(read_timeout_s: float) -> httpx.AsyncClient:
    """``read_timeout_s`` bounds the gap between two streamed chunks, not the whole reply."""
    return httpx.AsyncClient(timeout=httpx.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S))


class EngineHTTP:
    """One engine's pooled client, opened on first use; transport failures and HTTP error statuses become
    ``EngineError``s that name ``server`` (``short_name`` where the request itself failed)."""

    def __init__(self, server: str, read_timeout_s: float, *, short_name: str | None = None) -> None:
        self.server = server
        self._short_name = short_name or server
        self._read_timeout_s = read_timeout_s
        self._http: httpx.AsyncClient | None = None

    async def stream_lines(
        self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> AsyncGenerator[str, None]:
        """``POST`` ``body`` and yield the streamed reply line by line."""
        try:
            async with self._client().stream("POST", url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    detail = error_detail(await response.aread())
                    raise EngineError(f"{self.server} HTTP {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    yield line
        except httpx.HTTPError as exc:
            raise EngineError(f"{self._short_name} request failed: {exc!r}") from exc

    async def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client().get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise EngineError(f"{self.server} is unreachable: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = new_client(self._read_timeout_s)
        return self._http


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
