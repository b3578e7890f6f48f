"""The Deepgram adapter's side of the listener contract: every ``finalize()`` yields exactly one final, and
no endpoint final appears for audio a pending ``Finalize`` covers (so the listener's FIFO of utterances
waiting for finals never shifts)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from sdr_agent.audio.mulaw import pcm_to_ulaw, silence_ulaw, ulaw_to_pcm
from sdr_agent.engines.base import AudioFrame, Transcript
from sdr_agent.engines.cloud.deepgram_stt import DeepgramSTT, DeepgramSTTStream
from sdr_agent.settings import STTSettings
from sdr_agent.sim.deepgram import DeepgramStandIn
from sdr_agent.sim.loopback_server import LoopbackServer


def _frames(ms: int, *, speech: bool) -> list[AudioFrame]:
    if speech:
        ulaw = pcm_to_ulaw((8000 * np.sin(2 * np.pi * 200.0 * np.arange(160) / 8000.0)).astype(np.int16))
    else:
        ulaw = silence_ulaw(160)
    return [AudioFrame(ulaw=ulaw, pcm=ulaw_to_pcm(ulaw)) for _ in range(ms // 20)]


def _results(text: str, *, start: float, speech_final: bool = False, from_finalize: bool = False) -> str:
    words = [{"word": w, "start": start, "end": start + 0.2, "confidence": 0.9} for w in text.split()]
    return json.dumps({
        "type": "Results", "start": start, "duration": 0.5, "is_final": True, "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.9, "words": words}]},
    })


class RacingListenServer:
    """Answers ``Finalize`` the way a real race looks: Deepgram's endpoint result and ``UtteranceEnd`` were
    already on the wire when the Finalize arrived, then the ``from_finalize`` answer follows."""

    def __init__(self) -> None:
        self.server = LoopbackServer(Starlette(routes=[WebSocketRoute("/v1/listen", self._listen)]))

    async def _listen(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    continue
                kind = json.loads(text).get("type")
                if kind == "Finalize":
                    await ws.send_text(_results("Can we book a meeting", start=0.0, speech_final=True))
                    await ws.send_text(json.dumps({"type": "UtteranceEnd", "last_word_end": 0.4}))
                    await ws.send_text(_results("on Tuesday at 3 pm?", start=0.5, from_finalize=True))
                elif kind == "CloseStream":
                    await ws.close()
                    return
        except WebSocketDisconnect:
            return


class Collector:
    def __init__(self, stream: DeepgramSTTStream) -> None:
        self.items: list[Transcript] = []
        self._task = asyncio.create_task(self._read(stream.results()))

    async def _read(self, results: AsyncIterator[Transcript]) -> None:
        async for item in results:
            self.items.append(item)

    @property
    def finals(self) -> list[str]:
        return [t.text for t in self.items if t.speech_final]

    async def wait_finals(self, count: int, timeout: float = 3.0) -> list[str]:
        async with asyncio.timeout(timeout):
            while len(self.finals) < count:
                await asyncio.sleep(0.01)
        return self.finals


def _settings(url: str, key: str) -> STTSettings:
    return STTSettings(
        provider="deepgram", fallback="none", deepgram_url=url, deepgram_api_key=SecretStr(key),
        deepgram_finalize_timeout_s=0.5,
    )


async def test_an_endpoint_racing_a_finalize_joins_its_answer_in_one_final() -> None:
    racing = RacingListenServer()
    await racing.server.start()
    try:
        stream = await DeepgramSTT(_settings(racing.server.ws_url, "any-key")).open_stream()
        collector = Collector(stream)
        for frame in _frames(400, speech=True):
            await stream.send(frame)
        await stream.finalize()
        await asyncio.sleep(0.2)  # a second final, if any, would arrive now
        await stream.aclose()
    finally:
        await racing.server.stop()
    assert collector.finals == ["Can we book a meeting on Tuesday at 3 pm?"]


@pytest.fixture
async def deepgram() -> AsyncIterator[DeepgramStandIn]:
    lines = ["Can we book a meeting on Tuesday at 3 pm?", "Yes, please book it."]
    async with DeepgramStandIn(lines) as standin:
        yield standin


async def test_finalize_after_an_endpoint_still_answers_once(deepgram: DeepgramStandIn) -> None:
    """Deepgram's endpoint (300 ms of silence) beat the client's finalize: the words come with the endpoint
    final and ``finalize()`` adds exactly one (empty) final; the next utterance is not touched."""
    stream = await DeepgramSTT(_settings(deepgram.ws_url, deepgram.api_key)).open_stream()
    collector = Collector(stream)
    for frame in _frames(800, speech=True) + _frames(400, speech=False):
        await stream.send(frame)
    assert await collector.wait_finals(1) == ["Can we book a meeting on Tuesday at 3 pm?"]
    await stream.finalize()
    assert collector.finals == ["Can we book a meeting on Tuesday at 3 pm?", ""]
    await asyncio.sleep(0.8)  # past the stand-in's continuation window: the next line is a new utterance
    for frame in _frames(600, speech=True):
        await stream.send(frame)
    await stream.finalize()
    await stream.aclose()
    assert collector.finals == ["Can we book a meeting on Tuesday at 3 pm?", "", "Yes, please book it."]
