"""Batch calling in ElevenLabs' shapes (pinned by the SDK test), plus our calling-window and retry fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdr_agent.campaigns.model import RecipientInput, RetryPolicy, SubmitRequest
from sdr_agent.campaigns.window import CallingWindow, WindowError, parse_clock, parse_days
from sdr_agent.storage.repos.campaigns import BatchCall, Recipient
from sdr_agent.storage.repos.timeutil import unix_secs
from sdr_agent.telephony.call_config import CallConfigError, parse_call_config
from sdr_agent.telephony.variables import VariableValue


class SchemaError(ValueError):
    """A field that passed pydantic but not our rules: the router answers 422 with this message."""


class ClientDataBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dynamic_variables: dict[str, VariableValue | None] | None = None
    conversation_config_override: dict[str, Any] | None = None
    user_id: str | None = Field(default=None, max_length=255)


class RecipientBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(default=None, max_length=128)
    phone_number: str | None = Field(default=None, max_length=64)
    conversation_initiation_client_data: ClientDataBody | None = None


class WindowBody(BaseModel):
    start: str = Field(default="09:00", max_length=5)
    end: str = Field(default="20:00", max_length=5)
    days: list[str] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], max_length=7)


class RetryBody(BaseModel):
    max_attempts: int = Field(default=3, ge=1, le=10)
    min_delay_secs: float = Field(default=1800.0, ge=0, le=7 * 86400)


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    call_name: str = Field(min_length=1, max_length=255)
    agent_id: str = Field(min_length=1, max_length=64)
    recipients: list[RecipientBody]
    scheduled_time_unix: int | None = Field(default=None, ge=0, le=4102444800)
    agent_phone_number_id: str | None = Field(default=None, max_length=64)
    timezone: str | None = Field(default=None, max_length=64)
    target_concurrency_limit: int | None = Field(default=None, ge=1, le=1000)
    telephony_call_config: dict[str, Any] | None = None
    # Ours: calling hours (clamped to 08:00-21:00 local) and the retry policy for busy/no-answer/failed.
    calling_window: WindowBody | None = None
    retry_policy: RetryBody | None = None

    def to_request(self) -> SubmitRequest:
        try:
            telephony = parse_call_config(self.telephony_call_config)
        except CallConfigError as exc:
            raise SchemaError(str(exc)) from exc
        window = None
        if self.calling_window is not None:
            try:
                window = CallingWindow.clamped(
                    parse_clock(self.calling_window.start),
                    parse_clock(self.calling_window.end),
                    parse_days(self.calling_window.days),
                )
            except WindowError as exc:
                raise SchemaError(f"calling_window: {exc}") from exc
        retry = (
            RetryPolicy(self.retry_policy.max_attempts, self.retry_policy.min_delay_secs)
            if self.retry_policy
            else None
        )
        return SubmitRequest(
            call_name=self.call_name,
            agent_id=self.agent_id,
            recipients=[_recipient(r) for r in self.recipients],
            phone_number_id=self.agent_phone_number_id,
            scheduled_at=(
                datetime.fromtimestamp(self.scheduled_time_unix, UTC)
                if self.scheduled_time_unix is not None
                else None
            ),
            timezone=self.timezone,
            target_concurrency_limit=self.target_concurrency_limit,
            telephony=telephony,
            window=window,
            retry=retry,
        )


def _recipient(body: RecipientBody) -> RecipientInput:
    data = body.conversation_initiation_client_data or ClientDataBody()
    values = {k: v for k, v in (data.dynamic_variables or {}).items() if v is not None}
    return RecipientInput(
        phone_number=body.phone_number or "",
        id=body.id,
        dynamic_variables=values,
        config_override=dict(data.conversation_config_override or {}),
        user_id=data.user_id,
    )


def batch_json(batch: BatchCall) -> dict[str, Any]:
    """BatchCallResponse."""
    return {
        "id": batch.batch_id,
        "phone_number_id": batch.phone_number_id,
        "phone_provider": batch.phone_provider,
        "name": batch.name,
        "agent_id": batch.agent_id,
        "agent_name": batch.agent_name,
        "created_at_unix": unix_secs(batch.created_at),
        "scheduled_time_unix": unix_secs(batch.scheduled_at),
        "timezone": batch.timezone,
        "total_calls_dispatched": batch.totals.dispatched,
        "total_calls_scheduled": batch.totals.scheduled,
        "total_calls_finished": batch.totals.finished,
        "last_updated_at_unix": unix_secs(batch.updated_at),
        "status": batch.status,
        "retry_count": batch.retry_count,
        "telephony_call_config": batch.telephony_call_config,
        "target_concurrency_limit": batch.target_concurrency_limit,
        "calling_window": batch.calling_window,
        "retry_policy": batch.retry_policy,
    }


def recipient_json(recipient: Recipient) -> dict[str, Any]:
    """OutboundCallRecipientResponseModel, plus when it will be dialed and every attempt's outcome."""
    client = {k: v for k, v in recipient.client_data.items() if k != "id"}
    return {
        "id": recipient.client_data.get("id") or recipient.recipient_id,
        "phone_number": recipient.phone_number,
        "status": recipient.status,
        "created_at_unix": unix_secs(recipient.created_at),
        "updated_at_unix": unix_secs(recipient.updated_at),
        "conversation_id": recipient.conversation_id,
        "conversation_initiation_client_data": client,
        "timezones": recipient.timezones,
        "attempts": recipient.attempts,
        "next_attempt_at_unix": (
            unix_secs(recipient.next_attempt_at) if recipient.status == "pending" else None
        ),
        "detail": recipient.detail,
        "attempt_log": [
            {
                "attempt": a.attempt_no,
                "conversation_id": a.conversation_id,
                "call_sid": a.call_sid,
                "outcome": a.outcome,
                "answered_by": a.answered_by,
                "started_at_unix": unix_secs(a.started_at),
                "ended_at_unix": unix_secs(a.ended_at),
            }
            for a in recipient.attempt_log
        ],
    }
