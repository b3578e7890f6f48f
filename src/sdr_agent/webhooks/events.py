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

from sdr_agent.storage.repos.conversations import Conversation, TurnRecord
from sdr_agent.storage.repos.timeutil import unix_secs

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
    body = {"type": event_type, "event_timestamp": int(time.time()) if timestamp is None else timestamp,
            "data": data}
    return json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=_json_default)


def transcript_item(turn: TurnRecord) -> dict[str, Any]:
    return {
        "role": turn.role,
        "message": turn.message,
        "time_in_call_secs": int(round(turn.time_in_call_secs)),
        "tool_calls": list(turn.tool_calls),
        "tool_results": list(turn.tool_results),
        "interrupted": turn.interrupted,
        "feedback": None,
        "conversation_turn_metrics": dict(turn.metrics) or None,
        "sentiment": turn.sentiment,
    }


def conversation_payload(conversation: Conversation, agent_name: str | None) -> dict[str, Any]:
    """The GET-conversation object (ElevenLabs shape) for one conversation with its turns."""
    has_audio = bool(conversation.audio_path)
    return {
        "agent_id": conversation.agent_id,
        "agent_name": agent_name,
        "conversation_id": conversation.conversation_id,
        "status": conversation.status,
        "user_id": None,
        "transcript": [transcript_item(t) for t in conversation.turns],
        "metadata": _metadata(conversation),
        "analysis": conversation.analysis,
        "conversation_initiation_client_data": {
            "dynamic_variables": dict(conversation.dynamic_variables),
            "conversation_config_override": dict(conversation.config_override),
        },
        "has_audio": has_audio,
        "has_user_audio": has_audio,
        "has_response_audio": has_audio,
    }


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


def _metadata(conversation: Conversation) -> dict[str, Any]:
    stored = dict(conversation.metadata)
    started = conversation.started_at or conversation.created_at
    metadata: dict[str, Any] = {
        "start_time_unix_secs": unix_secs(started),
        "call_duration_secs": int(round(conversation.duration_secs)),
        "termination_reason": conversation.termination_reason,
    }
    if conversation.call_sid:
        inbound = conversation.direction == "inbound"
        metadata["phone_call"] = {
            "type": "twilio",
            "direction": conversation.direction,
            "phone_number_id": conversation.phone_number_id,
            "agent_number": conversation.to_number if inbound else conversation.from_number,
            "external_number": conversation.from_number if inbound else conversation.to_number,
            "call_sid": conversation.call_sid,
            "stream_sid": conversation.stream_sid,
        }
    # What the call loop stored wins over what is derived from columns.
    metadata.update({k: v for k, v in stored.items() if v is not None})
    return metadata


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
