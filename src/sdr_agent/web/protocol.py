"""ElevenLabs realtime conversation messages ↔ typed events. Pure: no I/O, no clocks.

Client → server: ``conversation_initiation_client_data``, ``{"user_audio_chunk": b64}`` (no ``type``),
``pong``, ``user_message``, ``user_activity``, ``contextual_update``, ``client_tool_result``.
Server → client: ``conversation_initiation_metadata``, ``audio``, ``agent_response``,
``agent_response_correction``, ``user_transcript``, ``interruption``, ``ping``, ``client_tool_call``.
Shapes follow the official ``elevenlabs`` SDK (``conversational_ai/conversation.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class MalformedMessage(ValueError):
    """A frame that is not a valid client message; the socket counts and skips it."""


@dataclass(frozen=True, slots=True)
class InitiationData:
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    config_override: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    source: str = ""

    @property
    def text_only(self) -> bool:
        # The SDK sets a top-level ``text_only`` inside the override when it has no audio interface.
        conversation = self.config_override.get("conversation")
        nested = isinstance(conversation, dict) and bool(conversation.get("text_only"))
        return nested or bool(self.config_override.get("text_only"))

    @property
    def agent_override(self) -> dict[str, Any]:
        """The override in the shape of an agent's conversation_config (top-level ``text_only`` dropped)."""
        return {k: v for k, v in self.config_override.items() if k != "text_only" and isinstance(v, dict)}


@dataclass(frozen=True, slots=True)
class UserAudioChunk:
    audio: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    event_id: int


@dataclass(frozen=True, slots=True)
class UserMessage:
    text: str


@dataclass(frozen=True, slots=True)
class UserActivity:
    pass


@dataclass(frozen=True, slots=True)
class ContextualUpdate:
    text: str


@dataclass(frozen=True, slots=True)
class ClientToolResult:
    tool_call_id: str
    result: str
    is_error: bool = False


ClientEvent = (
    InitiationData | UserAudioChunk | Pong | UserMessage | UserActivity | ContextualUpdate | ClientToolResult
)

MAX_TEXT_CHARS = 10_000


def parse_client_message(raw: str | bytes) -> ClientEvent:
    if isinstance(raw, bytes):
        raise MalformedMessage("binary frame: messages are JSON text")
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedMessage("message is not a JSON object")
    if "user_audio_chunk" in message:
        return _audio(message["user_audio_chunk"])
    kind = message.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise MalformedMessage(f"unknown message type {kind!r}")
    try:
        return parser(message)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"bad {kind} message: {exc!r}") from None


def _audio(value: Any) -> UserAudioChunk:
    if not isinstance(value, str):
        raise MalformedMessage("user_audio_chunk is not a base64 string")
    try:
        return UserAudioChunk(base64.b64decode(value, validate=True))
    except binascii.Error as exc:
        raise MalformedMessage(f"user_audio_chunk is not base64: {exc}") from None


def _dict(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _text(message: dict[str, Any], key: str = "text") -> str:
    value = message[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{key} is longer than {MAX_TEXT_CHARS} characters")
    return value


def _initiation(message: dict[str, Any]) -> InitiationData:
    user_id = message.get("user_id")
    source_info = _dict(message, "source_info")
    return InitiationData(
        dynamic_variables=_dict(message, "dynamic_variables"),
        config_override=_dict(message, "conversation_config_override"),
        user_id=str(user_id) if user_id is not None else None,
        source=str(source_info.get("source") or ""),
    )


def _tool_result(message: dict[str, Any]) -> ClientToolResult:
    result = message.get("result", "")
    return ClientToolResult(
        tool_call_id=_text(message, "tool_call_id"),
        result=result if isinstance(result, str) else json.dumps(result),
        is_error=bool(message.get("is_error", False)),
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], ClientEvent]] = {
    "conversation_initiation_client_data": _initiation,
    "pong": lambda m: Pong(int(m.get("event_id", 0))),
    "user_message": lambda m: UserMessage(_text(m)),
    "user_activity": lambda m: UserActivity(),
    "contextual_update": lambda m: ContextualUpdate(_text(m)),
    "client_tool_result": _tool_result,
}


# ------------------------------------------------------------------ server → client
def initiation_metadata(conversation_id: str, output_format: str, input_format: str) -> str:
    return json.dumps({
        "type": "conversation_initiation_metadata",
        "conversation_initiation_metadata_event": {
            "conversation_id": conversation_id,
            "agent_output_audio_format": output_format,
            "user_input_audio_format": input_format,
        },
    })


def audio(payload: bytes, event_id: int) -> str:
    b64 = base64.b64encode(payload).decode("ascii")
    return json.dumps({"type": "audio", "audio_event": {"audio_base_64": b64, "event_id": event_id}})


def agent_response(text: str) -> str:
    return json.dumps({"type": "agent_response", "agent_response_event": {"agent_response": text}})


def agent_response_correction(original: str, corrected: str) -> str:
    return json.dumps({
        "type": "agent_response_correction",
        "agent_response_correction_event": {
            "original_agent_response": original, "corrected_agent_response": corrected,
        },
    })


def user_transcript(text: str) -> str:
    return json.dumps({"type": "user_transcript", "user_transcription_event": {"user_transcript": text}})


def interruption(event_id: int) -> str:
    return json.dumps({"type": "interruption", "interruption_event": {"event_id": event_id}})


def ping(event_id: int, ping_ms: int | None) -> str:
    return json.dumps({"type": "ping", "ping_event": {"event_id": event_id, "ping_ms": ping_ms}})


def client_tool_call(tool_name: str, tool_call_id: str, parameters: dict[str, Any]) -> str:
    return json.dumps({
        "type": "client_tool_call",
        "client_tool_call": {"tool_name": tool_name, "tool_call_id": tool_call_id, "parameters": parameters},
    })
