"""Open one extra Media Stream for a call and see how the server treats it (e.g. a replayed token)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from sdr_agent.sim.call_record import FRAME_MS
from sdr_agent.sim.script_player import SILENCE_FRAME

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What happened to an extra stream opened for a call (e.g. a replayed token)."""

    close_code: int | None
    close_reason: str
    events_received: list[str]
    closed_by_server: bool = False
    connect_error: str | None = None


async def probe_stream(
    target_url: str, headers: dict[str, str], start_message: dict[str, Any], wait_s: float = 2.0
) -> ProbeResult:
    """Send connected + start, then silence for up to ``wait_s`` or until the server closes the stream."""
    try:
        ws = await connect(target_url, additional_headers=headers, open_timeout=CONNECT_TIMEOUT_S, proxy=None)
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        return ProbeResult(None, "", [], connect_error=type(exc).__name__)
    received: list[str] = []
    closed_by_server = False
    stream_sid = str(start_message.get("streamSid", ""))
    try:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start_message))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        chunk = 0
        while loop.time() < deadline:
            chunk += 1
            media = {
                "event": "media",
                "sequenceNumber": str(chunk + 1),
                "streamSid": stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(chunk),
                    "timestamp": str((chunk - 1) * FRAME_MS),
                    "payload": base64.b64encode(SILENCE_FRAME).decode("ascii"),
                },
            }
            await ws.send(json.dumps(media))
            with contextlib.suppress(TimeoutError):
                raw = await asyncio.wait_for(ws.recv(), FRAME_MS / 1000)
                if isinstance(raw, str):
                    with contextlib.suppress(json.JSONDecodeError, AttributeError):
                        received.append(str(json.loads(raw).get("event")))
    except ConnectionClosed:
        closed_by_server = True
    finally:
        await ws.close()
    return ProbeResult(ws.close_code, ws.close_reason or "", received, closed_by_server)
