"""Deepgram text-to-speech: the ``/v1/speak`` WebSocket (default) or the REST endpoint (simple path).

Both ask for ``encoding=mulaw&sample_rate=8000`` (REST also ``container=none``), so the audio is Twilio-ready
and never resampled. Sockets are pooled per voice model so a sentence does not pay a TLS handshake; each
sentence is ``Speak`` + ``Flush`` and ends at ``Flushed``. Closing the iterator early (barge-in) sends
``Clear`` and the socket returns to the pool only after Deepgram confirms with ``Cleared``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from sdr_agent.engines.base import EngineError, SynthesizedAudio
from sdr_agent.engines.cloud.deepgram_common import (
    auth_headers,
    http_base,
    open_socket,
    require_key,
    with_query,
    ws_base,
)
from sdr_agent.settings import TTSSettings

logger = logging.getLogger(__name__)

SAMPLE_RATE = 8000
MAX_IDLE_SOCKETS = 2
CLEAR_WAIT_S = 2.0
_FLUSH = json.dumps({"type": "Flush"})
_CLEAR = json.dumps({"type": "Clear"})
_CLOSE = json.dumps({"type": "Close"})


def control_type(raw: str) -> str:
    """The ``type`` of a JSON control frame; anything else is a broken server."""
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EngineError(f"Deepgram speak sent a frame that is not JSON: {raw[:80]!r}") from exc
    if not isinstance(payload, dict):
        raise EngineError(f"Deepgram speak sent a JSON frame that is not an object: {raw[:80]!r}")
    if payload.get("type") == "Warning":
        logger.warning("deepgram speak warning: %s", payload.get("description"))
    return str(payload.get("type", ""))


class DeepgramTTS:
    name = "deepgram"

    def __init__(self, settings: TTSSettings) -> None:
        self._settings = settings
        self._api_key = require_key(settings.deepgram_api_key, "SDR_TTS__DEEPGRAM_API_KEY")
        self._idle: dict[str, list[ClientConnection]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._recycling: dict[str, set[asyncio.Task[None]]] = {}  # sockets waiting for Cleared, per model
        self._http: httpx.AsyncClient | None = None

    def model_for(self, voice: str | None) -> str:
        """An ``aura-…`` voice id names a Deepgram model; any other voice id belongs to another engine."""
        return voice if voice and voice.startswith("aura") else self._settings.deepgram_model

    def speak_socket_url(self, model: str) -> str:
        params: dict[str, str | int] = {"model": model, "encoding": "mulaw", "sample_rate": SAMPLE_RATE}
        return with_query(ws_base(self._settings.deepgram_url) + "/v1/speak", params)

    def speak_rest_url(self, model: str) -> str:
        params: dict[str, str | int] = {
            "model": model, "encoding": "mulaw", "sample_rate": SAMPLE_RATE, "container": "none"
        }
        return with_query(http_base(self._settings.deepgram_url) + "/v1/speak", params)

    def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[SynthesizedAudio]:
        model = self.model_for(voice)
        if self._settings.deepgram_transport == "rest":
            return self._synthesize_rest(text, model)
        return self._synthesize_socket(text, model)

    async def warm_up(self) -> None:
        if self._settings.deepgram_transport == "rest":
            self._client()
            return
        model = self._settings.deepgram_model
        if not self._idle.get(model):
            self._release(model, await open_socket(self.speak_socket_url(model), self._api_key))

    async def probe(self) -> None:
        """Cheap health check for the fallback adapter."""
        if self._settings.deepgram_transport == "rest":
            async for _ in self._synthesize_rest("Hi.", self._settings.deepgram_model):
                pass
            return
        ws = await open_socket(self.speak_socket_url(self._settings.deepgram_model), self._api_key)
        await _close_socket(ws)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for sockets in self._idle.values():
            for ws in sockets:
                await _close_socket(ws)
        self._idle.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------ WebSocket path
    async def _synthesize_socket(self, text: str, model: str) -> AsyncIterator[SynthesizedAudio]:
        text = text.strip()
        if not text:
            return
        for attempt in range(2):
            ws, pooled = await self._acquire(model, allow_pooled=attempt == 0)
            finished = failed = got_audio = False
            try:
                await ws.send(json.dumps({"type": "Speak", "text": text}))
                await ws.send(_FLUSH)
                while True:
                    message = await self._receive(ws)
                    if isinstance(message, bytes):
                        if message:
                            got_audio = True
                            yield SynthesizedAudio(data=message, sample_rate=SAMPLE_RATE, encoding="mulaw")
                        continue
                    if control_type(message) == "Flushed":
                        finished = True
                        return
            except ConnectionClosed as exc:
                failed = True
                if pooled and not got_audio:
                    logger.info("pooled deepgram speak socket was closed; retrying on a fresh one")
                    continue
                raise EngineError(f"Deepgram speak socket closed mid-sentence: {exc}") from exc
            except EngineError:
                failed = True
                raise
            finally:
                if finished:
                    self._release(model, ws)
                else:
                    recycle = self._spawn(self._clear_and_recycle(ws, model, reuse=not failed))
                    pending = self._recycling.setdefault(model, set())
                    pending.add(recycle)
                    recycle.add_done_callback(pending.discard)

    async def _receive(self, ws: ClientConnection) -> str | bytes:
        try:
            return await asyncio.wait_for(ws.recv(), self._settings.deepgram_idle_timeout_s)
        except TimeoutError as exc:
            raise EngineError(
                f"Deepgram speak sent nothing for {self._settings.deepgram_idle_timeout_s:.1f}s"
            ) from exc

    async def _acquire(self, model: str, *, allow_pooled: bool) -> tuple[ClientConnection, bool]:
        pool = self._idle.setdefault(model, [])
        recycling = self._recycling.get(model)
        if allow_pooled and not pool and recycling:
            # Right after a barge-in the next reply starts: its socket is about to come back, cleared.
            await asyncio.wait(set(recycling), timeout=CLEAR_WAIT_S)
        while allow_pooled and pool:
            ws = pool.pop()
            if ws.state is State.OPEN:
                return ws, True
            self._spawn(_close_socket(ws))
        return await open_socket(self.speak_socket_url(model), self._api_key), False

    def _release(self, model: str, ws: ClientConnection) -> None:
        pool = self._idle.setdefault(model, [])
        if ws.state is State.OPEN and len(pool) < MAX_IDLE_SOCKETS:
            pool.append(ws)
        else:
            self._spawn(_close_socket(ws))

    async def _clear_and_recycle(self, ws: ClientConnection, model: str, *, reuse: bool) -> None:
        """Barge-in: drop what Deepgram still holds; reuse the socket only once it confirmed ``Cleared``."""
        if not reuse or ws.state is not State.OPEN:
            await _close_socket(ws)
            return
        try:
            await ws.send(_CLEAR)
            async with asyncio.timeout(CLEAR_WAIT_S):
                while True:
                    message = await ws.recv()
                    if isinstance(message, str) and control_type(message) == "Cleared":
                        break
        except (ConnectionClosed, TimeoutError, EngineError) as exc:
            logger.info("deepgram speak socket not reusable after Clear: %r", exc)
            await _close_socket(ws)
            return
        self._release(model, ws)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------ REST path
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            timeout = httpx.Timeout(self._settings.deepgram_idle_timeout_s, connect=5.0)
            self._http = httpx.AsyncClient(timeout=timeout)
        return self._http

    async def _synthesize_rest(self, text: str, model: str) -> AsyncIterator[SynthesizedAudio]:
        text = text.strip()
        if not text:
            return
        headers = {**auth_headers(self._api_key), "Content-Type": "application/json"}
        try:
            async with self._client().stream(
                "POST", self.speak_rest_url(model), json={"text": text}, headers=headers
            ) as response:
                if response.status_code >= 400:
                    body = (await response.aread()).decode("utf-8", "replace")[:200]
                    raise EngineError(f"Deepgram speak failed: HTTP {response.status_code} {body}")
                async for chunk in response.aiter_bytes():
                    if chunk:
                        yield SynthesizedAudio(data=chunk, sample_rate=SAMPLE_RATE, encoding="mulaw")
        except httpx.HTTPError as exc:
            raise EngineError(f"Deepgram speak request failed: {exc!r}") from exc


async def _close_socket(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed, OSError):
        if ws.state is State.OPEN:
            await ws.send(_CLOSE)
        await ws.close()
