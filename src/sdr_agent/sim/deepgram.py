"""A Deepgram stand-in on 127.0.0.1: listen and speak WebSockets plus the REST speak / listen endpoints.

Usage::

    async with DeepgramStandIn(utterances=["I would like a demo"]) as deepgram:
        settings.stt.deepgram_url = deepgram.ws_url      # and the same for tts; key = deepgram.api_key
        deepgram.faults = FaultPlan(http_status=500, times=1)
        ... deepgram.controls (KeepAlive / Finalize / CloseStream received), deepgram.speak_messages ...

Listen behaviour is described in ``sim.deepgram_listen``. Speak: ``Speak`` texts are buffered, ``Flush``
streams ``bytes_per_char`` μ-law bytes per character (a tone, in ``chunk_bytes`` binary frames, one every
``chunk_interval_s``) and then ``Flushed``; ``Clear`` stops the audio, drops buffered text and answers
``Cleared``; ``Close`` finishes and closes. Faults apply per connection (``faults`` for listen,
``speak_faults`` for both speak paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from time import monotonic
from types import TracebackType

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.sim.cloud_faults import FaultPlan
from sdr_agent.sim.deepgram_listen import ListenSession
from sdr_agent.sim.loopback_server import LoopbackServer

STANDIN_KEY = "standin-deepgram-key"


def _tone(seconds: float = 1.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000.0
    wave = 0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.1 * np.sin(2 * np.pi * 660.0 * t)
    return pcm_to_ulaw((wave * 32767).astype(np.int16))


class DeepgramStandIn:
    def __init__(
        self,
        utterances: Iterable[str] = (),
        *,
        api_key: str = STANDIN_KEY,
        speech_rms: float = 500.0,
        ms_per_word: float = 150.0,
        interim_interval_ms: float = 200.0,
        endpointing_ms: float = 300.0,
        idle_timeout_s: float = 10.0,
        answer_empty_finalize: bool = True,
        bytes_per_char: int = 400,
        chunk_bytes: int = 800,
        chunk_interval_s: float = 0.005,
    ) -> None:
        self.utterances: deque[str] = deque(utterances)
        self.api_key = api_key
        self.speech_rms = speech_rms
        self.ms_per_word = ms_per_word
        self.interim_interval_ms = interim_interval_ms
        self.endpointing_ms = endpointing_ms
        self.idle_timeout_s = idle_timeout_s
        self.answer_empty_finalize = answer_empty_finalize
        self.bytes_per_char = bytes_per_char
        self.chunk_bytes = chunk_bytes
        self.chunk_interval_s = chunk_interval_s
        self.faults = FaultPlan(times=0)
        self.speak_faults = FaultPlan(times=0)
        # What was received, for assertions.
        self.listen_connections = 0
        self.listen_queries: list[dict[str, str]] = []
        self.controls: list[str] = []
        self.audio_bytes = 0
        self.empty_binary_frames = 0
        self.idle_closes = 0
        self.finished_utterances: list[str] = []
        self.speak_connections = 0
        self.speak_queries: list[dict[str, str]] = []
        self.speak_messages: list[str] = []
        self.speak_texts: list[str] = []
        self.speak_bytes_sent = 0
        self.rest_speak_queries: list[dict[str, str]] = []
        self._tone = _tone()
        self._server = LoopbackServer(self._app())

    @property
    def ws_url(self) -> str:
        return self._server.ws_url

    @property
    def http_url(self) -> str:
        return self._server.url

    @property
    def keepalives(self) -> int:
        return self.controls.count("KeepAlive")

    async def __aenter__(self) -> DeepgramStandIn:
        await self._server.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.stop()

    def audio_for(self, text: str) -> bytes:
        size = max(self.chunk_bytes, self.bytes_per_char * len(text.strip()))
        repeats = size // len(self._tone) + 1
        return (self._tone * repeats)[:size]

    # ------------------------------------------------------------ app
    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/v1/listen", self._listen),
                WebSocketRoute("/v1/speak", self._speak_socket),
                Route("/v1/speak", self._speak_rest, methods=["POST"]),
                Route("/v1/listen", self._listen_rest, methods=["POST"]),
            ]
        )

    def _authorized(self, authorization: str | None) -> bool:
        return authorization == f"Token {self.api_key}"

    async def _refuse(self, ws: WebSocket, fault: FaultPlan) -> bool:
        if not self._authorized(ws.headers.get("authorization")):
            await ws.send_denial_response(_error(401, "INVALID_AUTH", "Invalid credentials."))
            return True
        if fault.http_status is not None:
            await ws.send_denial_response(_error(fault.http_status, "STANDIN_FAULT", "Injected failure."))
            return True
        return False

    async def _listen(self, ws: WebSocket) -> None:
        fault = self.faults.take()
        if await self._refuse(ws, fault):
            return
        await ws.accept()
        self.listen_connections += 1
        self.listen_queries.append(dict(ws.query_params))
        await ListenSession(self, ws, fault).run()

    async def _speak_socket(self, ws: WebSocket) -> None:
        fault = self.speak_faults.take()
        if await self._refuse(ws, fault):
            return
        await ws.accept()
        self.speak_connections += 1
        self.speak_queries.append(dict(ws.query_params))
        await _SpeakSession(self, ws, fault).run()

    async def _speak_rest(self, request: Request) -> Response:
        fault = self.speak_faults.take()
        if not self._authorized(request.headers.get("authorization")):
            return _error(401, "INVALID_AUTH", "Invalid credentials.")
        if fault.http_status is not None:
            return _error(fault.http_status, "STANDIN_FAULT", "Injected failure.")
        self.rest_speak_queries.append(dict(request.query_params))
        try:
            text = str((await request.json())["text"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "INVALID_REQUEST", "Body must be JSON with a text field.")
        audio = self.audio_for(text)

        async def body() -> AsyncIterator[bytes]:
            if fault.first_byte_delay_s:
                await asyncio.sleep(fault.first_byte_delay_s)
            for number, start in enumerate(range(0, len(audio), self.chunk_bytes), start=1):
                if fault.disconnect_after is not None and number > fault.disconnect_after:
                    raise ConnectionAbortedError("stand-in fault: dropped mid-body")
                yield audio[start : start + self.chunk_bytes]
                await asyncio.sleep(self.chunk_interval_s)

        return StreamingResponse(body(), media_type="audio/basic")

    async def _listen_rest(self, request: Request) -> Response:
        if not self._authorized(request.headers.get("authorization")):
            return _error(401, "INVALID_AUTH", "Invalid credentials.")
        await request.body()
        text = self.utterances.popleft() if self.utterances else ""
        alternative = {"transcript": text, "confidence": 0.98 if text else 0.0, "words": []}
        return JSONResponse(
            {
                "metadata": {"request_id": "stand-in"},
                "results": {"channels": [{"alternatives": [alternative]}]},
            }
        )


class _SpeakSession:
    def __init__(self, standin: DeepgramStandIn, ws: WebSocket, fault: FaultPlan) -> None:
        self._standin = standin
        self._ws = ws
        self._fault = fault
        self._pending: list[str] = []
        self._jobs: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._opened_at = monotonic()
        self._chunks = 0
        self._sequence = 0
        self._dropped = False
        self._worker = asyncio.create_task(self._work())

    async def run(self) -> None:
        try:
            await self._receive_loop()
        finally:
            self._worker.cancel()
            with contextlib.suppress(BaseException):
                await self._worker
            with contextlib.suppress(Exception):
                await self._ws.close(code=1011 if self._dropped else 1000)

    async def _receive_loop(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect" or self._dropped:
                return
            text = message.get("text")
            if text is None:
                continue
            try:
                payload = json.loads(text)
                kind = str(payload.get("type"))
            except (json.JSONDecodeError, AttributeError):
                payload, kind = {}, "invalid"
            self._standin.speak_messages.append(kind)
            if kind == "Speak":
                self._pending.append(str(payload.get("text", "")))
                self._standin.speak_texts.append(self._pending[-1])
            elif kind == "Flush":
                self._jobs.put_nowait((self._sequence, " ".join(self._pending)))
                self._pending.clear()
                self._sequence += 1
            elif kind == "Clear":
                await self._clear()
            elif kind == "Close":
                await self._jobs.join()
                return
            else:
                warning = {"type": "Warning", "description": f"unknown message {kind}", "code": "UNKNOWN"}
                await self._send_text(warning)

    async def _clear(self) -> None:
        self._worker.cancel()
        with contextlib.suppress(BaseException):
            await self._worker
        while not self._jobs.empty():
            self._jobs.get_nowait()
            self._jobs.task_done()
        self._pending.clear()
        await self._send_text({"type": "Cleared", "sequence_id": self._sequence})
        self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while True:
            sequence, text = await self._jobs.get()
            try:
                await self._stream(text)
                await self._send_text({"type": "Flushed", "sequence_id": sequence})
            finally:
                self._jobs.task_done()

    async def _stream(self, text: str) -> None:
        standin, fault = self._standin, self._fault
        if not text.strip():
            return
        audio = standin.audio_for(text)
        for start in range(0, len(audio), standin.chunk_bytes):
            if self._chunks == 0 and fault.first_byte_delay_s:
                await asyncio.sleep(max(0.0, self._opened_at + fault.first_byte_delay_s - monotonic()))
            self._chunks += 1
            if fault.disconnect_after is not None and self._chunks > fault.disconnect_after:
                self._dropped = True
                await self._ws.close(code=1011, reason="stand-in fault: dropped")
                return
            async with self._send_lock:
                if fault.malformed_after is not None and self._chunks == fault.malformed_after + 1:
                    await self._ws.send_text("{this is not json")
                chunk = audio[start : start + standin.chunk_bytes]
                await self._ws.send_bytes(chunk)
                standin.speak_bytes_sent += len(chunk)
            await asyncio.sleep(standin.chunk_interval_s)

    async def _send_text(self, payload: Mapping[str, object]) -> None:
        async with self._send_lock:
            await self._ws.send_text(json.dumps(payload))


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"err_code": code, "err_msg": message, "request_id": "stand-in"}, status_code=status)
