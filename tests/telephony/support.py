"""Telephony test helpers: test audio, a local fake "agent" WebSocket server standing in for the media
endpoint, and quick ways to create agents and numbers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.services import Services
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.telephony.twilio.twiml import stream_twiml


def tone(ms: int, freq: float = 440.0, amplitude: int = 8000) -> bytes:
    """μ-law 8 kHz sine: audible test audio."""
    t = np.arange(ms * 8) / 8000.0
    return pcm_to_ulaw((np.sin(2 * np.pi * freq * t) * amplitude).astype(np.int16))


@dataclass
class AgentStream:
    """One stream as the fake agent saw it."""

    path: str
    headers: dict[str, str]
    connected: dict[str, Any]
    start: dict[str, Any]
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stream_sid(self) -> str:
        return str(self.start["streamSid"])

    def media(self) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("event") == "media"]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("event") == event]


Behaviour = Callable[[ServerConnection, AgentStream], Awaitable[None]]


class FakeAgent:
    """A WebSocket server that reads connected + start, then runs ``behaviour``."""

    def __init__(self) -> None:
        self.streams: list[AgentStream] = []
        self.behaviour: Behaviour = close_immediately
        self.url = ""
        self.refuse_upgrades = False

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_upgrades:
            return connection.respond(HTTPStatus.FORBIDDEN, "refused\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        connected = json.loads(await ws.recv())
        start = json.loads(await ws.recv())
        assert ws.request is not None
        stream = AgentStream(ws.request.path, dict(ws.request.headers), connected, start)
        self.streams.append(stream)
        await self.behaviour(ws, stream)


async def close_immediately(ws: ServerConnection, stream: AgentStream) -> None:
    await ws.close()


async def read_until(
    ws: ServerConnection, stream: AgentStream, event: str, timeout: float = 5.0
) -> dict[str, Any]:
    """Read messages (recording them) until one with ``event`` arrives."""
    import asyncio

    async def _read() -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            stream.received.append(message)
            if message.get("event") == event:
                return message

    return await asyncio.wait_for(_read(), timeout)


async def drain(ws: ServerConnection, stream: AgentStream) -> None:
    try:
        async for raw in ws:
            stream.received.append(json.loads(raw))
    except ConnectionClosed:
        pass


def send_media(stream: AgentStream, audio: bytes) -> str:
    import base64

    return json.dumps(
        {
            "event": "media",
            "streamSid": stream.stream_sid,
            "media": {"payload": base64.b64encode(audio).decode()},
        }
    )


def send_mark(stream: AgentStream, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream.stream_sid, "mark": {"name": name}})


async def make_agent(
    services: Services,
    first_message: str = "Hi, this is Alex.",
    prompt: str = "Be brief.",
    placeholders: dict[str, Any] | None = None,
) -> str:
    config: dict[str, Any] = {"agent": {"first_message": first_message, "prompt": {"prompt": prompt}}}
    if placeholders is not None:
        config["agent"]["dynamic_variables"] = {"dynamic_variable_placeholders": placeholders}
    async with services.db.session() as session:
        agent = await agents_repo.create_agent(session, name="Alex", conversation_config=config)
    return agent.agent_id


async def make_number(
    services: Services, e164: str, agent_id: str | None, sid: str | None = None, token: str | None = None
) -> str:
    async with services.db.session() as session:
        number = await numbers_repo.create_phone_number(
            session, phone_number=e164, label="main", twilio_sid=sid, twilio_token=token, agent_id=agent_id
        )
    return number.phone_number_id


class WebhookSink:
    """Our server's webhooks, faked: records every request and answers TwiML from ``twiml_for(call_sid)``."""

    def __init__(self, public_base_url: str) -> None:
        self.public_base_url = public_base_url
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.twiml_for: Callable[[str], str] = self.stream_to_agent
        self.voice_status = 200

    def stream_to_agent(self, call_sid: str) -> str:
        from sdr_agent.settings import Settings

        ws_base = Settings(_env_file=None, public_base_url=self.public_base_url).public_ws_base  # type: ignore[call-arg]
        return stream_twiml(f"{ws_base}/ws/voice/{call_sid}", {"token": "tok-" + call_sid})

    def of(self, path: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        return [request for request in self.requests if request[0] == path]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import Response

        request = Request(scope, receive)
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.requests.append((request.url.path, form, dict(request.headers)))
        if request.url.path.startswith("/twiml/voice"):
            response = Response(
                self.twiml_for(form["CallSid"]), status_code=self.voice_status, media_type="text/xml"
            )
        else:
            response = Response(status_code=204)
        await response(scope, receive, send)
