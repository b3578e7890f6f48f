"""Conversation shapes as the ElevenLabs SDK reads them, built from repository records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sdr_agent.storage.repos.conversations import Conversation, ConversationSummary, TurnRecord
from sdr_agent.storage.repos.timeutil import unix_secs

_ANALYSIS_DEFAULTS: dict[str, Any] = {
    "call_successful": "unknown",
    "transcript_summary": "",
    "evaluation_criteria_results": {},
    "data_collection_results": {},
}


class ConversationListItem(BaseModel):
    agent_id: str | None
    agent_name: str | None
    conversation_id: str
    start_time_unix_secs: int
    call_duration_secs: int
    message_count: int
    status: str
    call_successful: str
    direction: str
    termination_reason: str | None
    transcript_summary: str | None
    call_summary_title: str | None


class ConversationsPage(BaseModel):
    conversations: list[ConversationListItem]
    next_cursor: str | None
    has_more: bool


class TranscriptItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    message: str | None
    time_in_call_secs: int
    tool_calls: list[dict[str, Any]]
    tool_results: list[dict[str, Any]]
    interrupted: bool
    conversation_turn_metrics: dict[str, Any]


class ConversationResponse(BaseModel):
    agent_id: str | None
    agent_name: str | None
    conversation_id: str
    status: str
    transcript: list[TranscriptItem]
    metadata: dict[str, Any]
    analysis: dict[str, Any]
    conversation_initiation_client_data: dict[str, Any]
    has_audio: bool
    has_user_audio: bool
    has_response_audio: bool
    has_auxiliary_audio: bool = False
    user_id: str | None = None


def start_time(conv: Conversation) -> int:
    return unix_secs(conv.started_at or conv.created_at) or 0


def analysis_view(conv: Conversation) -> dict[str, Any]:
    view = dict(_ANALYSIS_DEFAULTS)
    view.update(conv.analysis or {})
    if conv.call_successful:
        view["call_successful"] = conv.call_successful
    return view


def list_item(summary: ConversationSummary) -> ConversationListItem:
    conv = summary.conversation
    analysis = analysis_view(conv)
    return ConversationListItem(
        agent_id=conv.agent_id,
        agent_name=summary.agent_name,
        conversation_id=conv.conversation_id,
        start_time_unix_secs=start_time(conv),
        call_duration_secs=round(conv.duration_secs),
        message_count=summary.message_count,
        status=conv.status,
        call_successful=str(analysis["call_successful"]),
        direction=conv.direction,
        termination_reason=conv.termination_reason,
        transcript_summary=analysis.get("transcript_summary") or None,
        call_summary_title=analysis.get("call_summary_title"),
    )


def _turn_metrics(turn: TurnRecord) -> dict[str, Any]:
    # ElevenLabs' shape is {"metrics": {name: {"elapsed_time": seconds}}}; the raw milliseconds ride along.
    timings: dict[str, Any] = {}
    if turn.latency_ms is not None:
        timings["convai_response_latency"] = {"elapsed_time": turn.latency_ms / 1000.0}
    if turn.bargein_detect_ms is not None:
        timings["convai_bargein_detect"] = {"elapsed_time": turn.bargein_detect_ms / 1000.0}
    return {
        "metrics": timings,
        "latency_ms": turn.latency_ms,
        "bargein_detect_ms": turn.bargein_detect_ms,
        "details": turn.metrics,
    }


def transcript_item(turn: TurnRecord) -> TranscriptItem:
    return TranscriptItem(
        role=turn.role,
        message=turn.message,
        time_in_call_secs=int(turn.time_in_call_secs),
        tool_calls=turn.tool_calls,
        tool_results=turn.tool_results,
        interrupted=turn.interrupted,
        conversation_turn_metrics=_turn_metrics(turn),
        phase=turn.phase,
        intent=turn.intent,
        sentiment=turn.sentiment,
        dtmf=turn.dtmf,
    )


def _phone_call(conv: Conversation) -> dict[str, Any] | None:
    stored = conv.metadata.get("phone_call")
    phone_call: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
    if not phone_call and conv.call_sid is None and conv.from_number is None and conv.to_number is None:
        return None
    outbound = conv.direction == "outbound"
    computed = {
        "type": "twilio",
        "direction": conv.direction,
        "phone_number_id": conv.phone_number_id,
        "agent_number": conv.from_number if outbound else conv.to_number,
        "external_number": conv.to_number if outbound else conv.from_number,
        "call_sid": conv.call_sid,
        "stream_sid": conv.stream_sid,
    }
    for key, value in computed.items():
        if value is not None or key not in phone_call:
            phone_call[key] = value
    return phone_call


def metadata_view(conv: Conversation) -> dict[str, Any]:
    metadata = dict(conv.metadata)
    metadata["start_time_unix_secs"] = start_time(conv)
    metadata["call_duration_secs"] = round(conv.duration_secs)
    metadata["termination_reason"] = conv.termination_reason or metadata.get("termination_reason")
    phone_call = _phone_call(conv)
    if phone_call is not None:
        metadata["phone_call"] = phone_call
    return metadata


def conversation_response(
    conv: Conversation, agent_name: str | None, *, stored_audio: bool = False
) -> ConversationResponse:
    """``stored_audio``: the recording is in the database (any replica serves it), not just a local file."""
    has_audio = stored_audio or (bool(conv.audio_path) and Path(conv.audio_path or "").is_file())
    client_data: dict[str, Any] = {"dynamic_variables": conv.dynamic_variables}
    if conv.config_override:
        client_data["conversation_config_override"] = conv.config_override
    return ConversationResponse(
        agent_id=conv.agent_id,
        agent_name=agent_name,
        conversation_id=conv.conversation_id,
        status=conv.status,
        transcript=[transcript_item(t) for t in conv.turns],
        metadata=metadata_view(conv),
        analysis=analysis_view(conv),
        conversation_initiation_client_data=client_data,
        has_audio=has_audio,
        has_user_audio=has_audio,
        has_response_audio=has_audio,
    )
