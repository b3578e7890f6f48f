"""Twilio Media Streams messages ↔ typed events. Pure: no I/O, no clocks.

Inbound: connected, start, media, mark, dtmf, stop. Outbound: media, mark, clear.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class MalformedMessage(ValueError):
    """A frame that is not a valid Media Streams message; the caller logs, counts and skips it."""


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    tracks: tuple[str, ...] = ("inbound",)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes
    track: str = "inbound"
    chunk: int = 0
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str = ""


InboundEvent = Connected | Start | Media | Mark | Dtmf | Stop


class UnknownEvent(MalformedMessage):
    """Valid JSON with an event name we do not handle (logged and skipped, like malformed frames)."""


def parse_message(raw: str | bytes) -> InboundEvent:
    """Parse one WebSocket text frame. Raises MalformedMessage with a reason on anything invalid."""
    if isinstance(raw, bytes):
        raise MalformedMessage("binary frame: Media Streams messages are JSON text")
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedMessage("message is not a JSON object")
    event = message.get("event")
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        raise UnknownEvent(f"unknown event {event!r}")
    try:
        return parser(message)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"bad {event} message: {exc!r}") from None


def _obj(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message[key]
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _parse_connected(message: dict[str, Any]) -> Connected:
    return Connected(protocol=str(message.get("protocol", "")), version=str(message.get("version", "")))


def _parse_start(message: dict[str, Any]) -> Start:
    start = _obj(message, "start")
    fmt = start.get("mediaFormat") or {}
    params = start.get("customParameters") or {}
    if not isinstance(params, dict) or not isinstance(fmt, dict):
        raise TypeError("customParameters and mediaFormat must be objects")
    stream_sid = str(start.get("streamSid") or message.get("streamSid") or "")
    call_sid = str(start["callSid"])
    if not stream_sid or not call_sid:
        raise ValueError("start without streamSid or callSid")
    return Start(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=str(start.get("accountSid", "")),
        custom_parameters={str(k): str(v) for k, v in params.items()},
        tracks=tuple(str(t) for t in start.get("tracks", ["inbound"])),
        encoding=str(fmt.get("encoding", "audio/x-mulaw")),
        sample_rate=int(fmt.get("sampleRate", 8000)),
        channels=int(fmt.get("channels", 1)),
    )


def _parse_media(message: dict[str, Any]) -> Media:
    media = _obj(message, "media")
    payload = media["payload"]
    if not isinstance(payload, str):
        raise TypeError("payload is not a string")
    try:
        audio = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"payload is not base64: {exc}") from None
    return Media(
        payload=audio,
        track=str(media.get("track", "inbound")),
        chunk=int(media.get("chunk", 0)),
        timestamp_ms=int(media.get("timestamp", 0)),
    )


def _parse_mark(message: dict[str, Any]) -> Mark:
    return Mark(name=str(_obj(message, "mark")["name"]))


def _parse_dtmf(message: dict[str, Any]) -> Dtmf:
    digit = str(_obj(message, "dtmf")["digit"])
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ValueError(f"invalid DTMF digit {digit!r}")
    return Dtmf(digit=digit)


def _parse_stop(message: dict[str, Any]) -> Stop:
    stop = message.get("stop") or {}
    return Stop(call_sid=str(stop.get("callSid", "")) if isinstance(stop, dict) else "")


_PARSERS: dict[str, Callable[[dict[str, Any]], InboundEvent]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "mark": _parse_mark,
    "dtmf": _parse_dtmf,
    "stop": _parse_stop,
}


def media_message(stream_sid: str, ulaw: bytes) -> str:
    # Fifty of these per second per call: format the fixed shape directly (the text json.dumps would give;
    # base64 needs no escaping), only the stream sid goes through the JSON encoder.
    payload = base64.b64encode(ulaw).decode("ascii")
    return f'{{"event": "media", "streamSid": {json.dumps(stream_sid)}, "media": {{"payload": "{payload}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
