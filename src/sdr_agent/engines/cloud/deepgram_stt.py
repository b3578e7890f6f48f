"""Deepgram streaming speech-to-text (``/v1/listen``) over a plain ``websockets`` client.

Why not the official ``deepgram-sdk``: the call loop needs exactly the parts an SDK decides for you — when
``KeepAlive`` goes out relative to the last audio frame (the loop stops forwarding while the agent speaks),
reconnecting mid-call while keeping the caller's half-finished utterance, and awaiting the ``from_finalize``
answer to ``Finalize``. The wire protocol is small (binary μ-law frames out, a few JSON messages each way,
``protocols.md`` §4), ``websockets`` is already a dependency, and the SDK's generated client has changed its
import paths and connection API in each recent major version.

Finals: Deepgram's own endpointing (``speech_final`` / ``UtteranceEnd``) closes an utterance with a final as
soon as it is detected; ``finalize()`` always yields exactly one more final (empty when the endpoint already
delivered everything), and no endpoint final appears for audio a pending ``Finalize`` covers.

Audio goes out exactly as Twilio delivered it (``AudioFrame.ulaw``, ``encoding=mulaw&sample_rate=8000``); an
empty frame is never sent because Deepgram treats it as end-of-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from time import monotonic

import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from sdr_agent.engines.base import PCM16, AudioFrame, EngineError, Transcript, drain_transcripts
from sdr_agent.engines.cloud.deepgram_common import (
    auth_headers,
    http_base,
    open_socket,
    require_key,
    with_query,
    ws_base,
)
from sdr_agent.engines.cloud.deepgram_results import ListenMessage, UtteranceAssembler, parse_listen_message
from sdr_agent.settings import STTSettings

logger = logging.getLogger(__name__)

SAMPLE_RATE = 8000  # μ-law: one byte per sample
GAP_BUFFER_FRAMES = 50  # ~1 s of 20 ms frames kept while reconnecting; older audio is dropped
CLOSE_WAIT_S = 1.0
CLEAR_TOLERANCE_S = 0.01  # timestamps arrive rounded to milliseconds
_KEEPALIVE = json.dumps({"type": "KeepAlive"})
_FINALIZE = json.dumps({"type": "Finalize"})
_CLOSE_STREAM = json.dumps({"type": "CloseStream"})

Connector = Callable[[], Awaitable[ClientConnection]]


class DeepgramSTT:
    """One engine per process; one ``DeepgramSTTStream`` (one socket) per call."""

    name = "deepgram"

    def __init__(self, settings: STTSettings) -> None:
        self._settings = settings
        self._api_key = require_key(settings.deepgram_api_key, "SDR_STT__DEEPGRAM_API_KEY")

    def listen_url(self) -> str:
        s = self._settings
        params: dict[str, str | int | float | bool] = {
            "model": s.deepgram_model,
            "encoding": "mulaw",
            "sample_rate": SAMPLE_RATE,
            "channels": 1,
            "interim_results": True,
            "endpointing": s.deepgram_endpointing_ms,
            "utterance_end_ms": s.deepgram_utterance_end_ms,
            "vad_events": True,
            "smart_format": s.deepgram_smart_format,
            "language": s.language,
        }
        return with_query(ws_base(s.deepgram_url) + "/v1/listen", params)

    async def open_stream(self) -> DeepgramSTTStream:
        url = self.listen_url()
        stream = DeepgramSTTStream(lambda: open_socket(url, self._api_key), self._settings)
        await stream.start()
        return stream

    async def transcribe(self, pcm: PCM16, sample_rate: int) -> str:
        """Batch recognition through the pre-recorded REST endpoint (raw linear16, no container)."""
        if len(pcm) == 0:
            return ""
        s = self._settings
        params: dict[str, str | int | float | bool] = {
            "model": s.deepgram_model,
            "encoding": "linear16",
            "sample_rate": sample_rate,
            "channels": 1,
            "smart_format": s.deepgram_smart_format,
            "language": s.language,
        }
        url = with_query(http_base(s.deepgram_url) + "/v1/listen", params)
        headers = {**auth_headers(self._api_key), "Content-Type": "application/octet-stream"}
        body = np.asarray(pcm, dtype="<i2").tobytes()
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise EngineError(f"Deepgram transcription request failed: {exc!r}") from exc
        if response.status_code >= 400:
            raise EngineError(
                f"Deepgram transcription failed: HTTP {response.status_code} {response.text[:200]}"
            )
        try:
            channels = response.json()["results"]["channels"]
            return str(channels[0]["alternatives"][0]["transcript"]).strip()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EngineError(f"Deepgram transcription response is malformed: {response.text[:200]}") from exc

    async def probe(self) -> None:
        """Cheap health check for the fallback adapter: the handshake succeeds (no audio, nothing billed)."""
        stream = await self.open_stream()
        await stream.aclose()


class DeepgramSTTStream:
    """A live ``/v1/listen`` socket that survives drops: it reconnects with backoff, keeping the utterance."""

    def __init__(self, connect: Connector, settings: STTSettings) -> None:
        self._connect = connect
        self._settings = settings
        self._queue: asyncio.Queue[Transcript | EngineError | None] = asyncio.Queue()
        self._assembler = UtteranceAssembler()
        self._ws: ClientConnection | None = None
        self._gap: deque[bytes] = deque(maxlen=GAP_BUFFER_FRAMES)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._failure: EngineError | None = None
        self._finalize_waiter: asyncio.Future[None] | None = None
        self._conn_bytes = 0  # audio bytes sent on the current socket
        self._offset_s = 0.0  # stream time at which the current socket started
        self._ignore_before_s = 0.0  # socket time before which results belong to audio dropped by clear()
        self._last_sent_at = monotonic()
        self._last_audio_at = 0.0
        self._unanswered_since: float | None = None  # first audio sent after the last server message
        self._drops = 0  # drops and failed reconnects since the last final segment
        self.reconnects = 0

    async def start(self) -> None:
        self._ws = await self._connect()
        self._last_sent_at = monotonic()
        self._tasks = [
            asyncio.create_task(self._supervise(), name="deepgram-listen-reader"),
            asyncio.create_task(self._keep_alive(), name="deepgram-listen-keepalive"),
        ]

    # ------------------------------------------------------------ STTStream
    async def send(self, frame: AudioFrame) -> None:
        if self._failure is not None:
            raise self._failure
        data = frame.ulaw
        if not data or self._closing:
            return
        ws = self._ws
        if ws is None or self._gap:  # reconnecting, or flushing what arrived meanwhile: keep the order
            self._gap.append(data)
            return
        try:
            await ws.send(data)
        except ConnectionClosed:
            self._gap.append(data)
            return
        self._conn_bytes += len(data)
        now = monotonic()
        self._last_sent_at = self._last_audio_at = now
        if self._unanswered_since is None:
            self._unanswered_since = now

    async def finalize(self) -> None:
        if self._failure is not None:
            raise self._failure
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finalize_waiter = waiter
        timeout = self._settings.deepgram_finalize_timeout_s
        try:
            ws = self._ws
            if ws is not None and not self._gap:  # while reconnecting, the new socket gets the Finalize
                await self._send_text(ws, _FINALIZE)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                if self._failure is None and self._unanswered_for() >= timeout:
                    self._fail(EngineError(f"Deepgram did not answer Finalize within {timeout:.1f}s"))
                else:
                    # No answer to Finalize when Deepgram holds no audio: the utterance is what we have.
                    self._emit(self._assembler.close(force=True))
            if self._failure is not None:
                raise self._failure
        finally:
            self._finalize_waiter = None

    async def clear(self) -> None:
        self._gap.clear()
        self._assembler.reset()
        self._ignore_before_s = self._conn_bytes / SAMPLE_RATE

    def results(self) -> AsyncIterator[Transcript]:
        return drain_transcripts(self._queue)

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        ws = self._ws
        if ws is not None and self._tasks:
            await self._send_text(ws, _CLOSE_STREAM)
            # Deepgram answers CloseStream with the remaining results and Metadata, then closes the socket.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._tasks[0]), CLOSE_WAIT_S)
            await ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queue.put_nowait(None)

    # ------------------------------------------------------------ socket handling
    async def _supervise(self) -> None:
        try:
            while True:
                ws = self._ws
                if ws is None:
                    return
                await self._read(ws)
                if self._closing or self._failure is not None:
                    return
                self._ws = None
                self._drops += 1
                logger.warning("deepgram listen socket dropped (code %s); reconnecting", ws.close_code)
                await self._reconnect()
        except EngineError as exc:
            self._fail(exc)
        finally:
            self._queue.put_nowait(None)

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                if isinstance(raw, bytes):
                    continue  # the listen API never sends audio back
                self._unanswered_since = None
                self._on_message(parse_listen_message(raw))

    async def _reconnect(self) -> None:
        s = self._settings
        delay = 0.1
        while not self._closing:
            if self._drops > s.deepgram_reconnect_attempts:
                raise EngineError(f"Deepgram dropped the connection {self._drops} times in one utterance")
            await asyncio.sleep(min(delay, s.deepgram_reconnect_max_delay_s))
            delay *= 2
            try:
                ws = await self._connect()
            except EngineError as exc:
                self._drops += 1
                logger.warning("deepgram reconnect failed: %s", exc)
                continue
            self._offset_s += self._conn_bytes / SAMPLE_RATE
            self._conn_bytes = 0
            self._ignore_before_s = 0.0
            self._unanswered_since = None
            try:
                while self._gap:
                    data = self._gap.popleft()
                    await ws.send(data)
                    self._conn_bytes += len(data)
                if self._finalize_waiter is not None:
                    await ws.send(_FINALIZE)
            except ConnectionClosed:
                self._drops += 1
                continue
            self._ws = ws
            self._last_sent_at = monotonic()
            self.reconnects += 1
            logger.info("deepgram listen socket reconnected (%d so far)", self.reconnects)
            return

    async def _keep_alive(self) -> None:
        interval = self._settings.deepgram_keepalive_interval_s
        tick = min(max(interval / 4, 0.02), 0.5)
        while not self._closing and self._failure is None:
            await asyncio.sleep(tick)
            now = monotonic()
            stall = self._settings.deepgram_stall_timeout_s
            if self._unanswered_for() > stall and now - self._last_audio_at < 1.0:
                self._fail(EngineError(f"Deepgram sent nothing for {stall:.1f}s of audio"))
                return
            ws = self._ws
            if ws is not None and now - self._last_sent_at >= interval:
                await self._send_text(ws, _KEEPALIVE)

    async def _send_text(self, ws: ClientConnection, message: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(message)
            self._last_sent_at = monotonic()

    # ------------------------------------------------------------ results
    def _on_message(self, message: ListenMessage) -> None:
        # While a Finalize is outstanding only its answer closes the utterance: an endpoint (speech_final or
        # UtteranceEnd) arriving meanwhile covers audio that Finalize covers too, and a second final would
        # be attributed to the caller's next utterance. Outside a Finalize, endpoints close as usual and a
        # late ``from_finalize`` answer (after the timeout already closed) is just another segment.
        waiter = self._finalize_waiter
        finalizing = waiter is not None and not waiter.done()
        if message.kind == "UtteranceEnd":
            if not finalizing:
                self._emit(self._assembler.close(force=False))
            return
        if message.kind != "Results":
            return
        if message.is_final:
            self._drops = 0
        if message.text and message.speech_end_s <= self._ignore_before_s + CLEAR_TOLERANCE_S:
            message = dataclasses.replace(message, text="")  # audio that clear() dropped
        closes = message.from_finalize if finalizing else message.speech_final and not message.from_finalize
        segment = dataclasses.replace(message, speech_final=False)  # closing is decided here, not per message
        transcript = self._assembler.on_results(segment, self._offset_s)
        if closes:
            closing = self._assembler.close(force=finalizing)
            transcript = closing if closing is not None else transcript
        self._emit(transcript)

    def _emit(self, transcript: Transcript | None) -> None:
        if transcript is None:
            return
        self._queue.put_nowait(transcript)
        waiter = self._finalize_waiter
        if transcript.speech_final and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _unanswered_for(self) -> float:
        return 0.0 if self._unanswered_since is None else monotonic() - self._unanswered_since

    def _fail(self, error: EngineError) -> None:
        if self._failure is not None:
            return
        logger.warning("deepgram listen stream failed: %s", error)
        self._failure = error
        self._queue.put_nowait(error)
        waiter = self._finalize_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        ws = self._ws
        if ws is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(ws.close(code=1000)))
