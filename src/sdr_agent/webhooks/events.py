"""Post-call event bodies, exactly as ElevenLabs sends them: ``{type, event_timestamp, data}``.

Bodies are serialised once, when the event is enqueued; the stored text is what gets signed and sent on
every attempt. ASCII-only JSON makes the signed string and the sent bytes identical for every receiver.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from typing import Any

from sdr_agent.schemas.conversations import conversation_response
from sdr_agent.storage.repos.conversations import Conversation

POST_CALL_TRANSCRIPTION = "post_call_transcription"
POST_CALL_AUDIO = "post_call_audio"
CALL_INITIATION_FAILURE = "call_initiation_failure"

# Subscription names (ElevenLabs ``webhooks.events``) -> event types.
SUBSCRIPTION_EVENTS: dict[str, str] = {
    "transcript": POST_CALL_TRANSCRIPTION,
    "audio": POST_CALL_AUDIO,
    "call_initiation_failure": CALL_INITIATION_FAILURE,
}


def envelope(event_type: str, data: dict[str, Any], *, timestamp: int | None = None) -> str:
    body = {
        "type": event_type,
        "event_timestamp": int(time.time()) if timestamp is None else timestamp,
        "data": data,
    }
    return json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=_json_default)


def conversation_payload(conversation: Conversation, agent_name: str | None) -> dict[str, Any]:
    """The GET-conversation object, from the same serialiser the conversations API uses."""
    return conversation_response(conversation, agent_name).model_dump(mode="json")


def transcription_data(
    conversation: Conversation, agent_name: str | None, meetings: list[dict[str, Any]]
) -> dict[str, Any]:
    data = conversation_payload(conversation, agent_name)
    data["booked_meetings"] = meetings
    return data


def audio_data(conversation: Conversation, wav: bytes) -> dict[str, Any]:
    return {
        "agent_id": conversation.agent_id,
        "conversation_id": conversation.conversation_id,
        "full_audio": base64.b64encode(wav).decode("ascii"),
        "audio_format": "wav",
    }


def initiation_failure_data(
    conversation_id: str, agent_id: str | None, failure_reason: str, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "failure_reason": failure_reason,
        "metadata": {"type": "twilio", "body": dict(body)},
    }


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
