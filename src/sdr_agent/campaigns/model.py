"""Typed campaign inputs and policies (the API's pydantic models are turned into these at the edge)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sdr_agent.campaigns.window import CallingWindow
from sdr_agent.telephony.call_config import TelephonyCallConfig


class RecipientStatus(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    INITIATED = "initiated"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    VOICEMAIL = "voicemail"


class BatchStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    """How one dial attempt ended."""

    COMPLETED = "completed"
    VOICEMAIL = "voicemail"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the process died while dialing; Twilio never told us about a call
    CANCELLED = "cancelled"


# Outcomes a retry may fix (the line was busy, nobody picked up, the carrier failed).
RETRYABLE = frozenset({Outcome.BUSY, Outcome.NO_ANSWER, Outcome.FAILED, Outcome.UNKNOWN})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    min_delay_s: float = 1800.0

    def to_json(self) -> dict[str, Any]:
        return {"max_attempts": self.max_attempts, "min_delay_secs": self.min_delay_s}

    @classmethod
    def from_json(cls, data: dict[str, Any], default: RetryPolicy) -> RetryPolicy:
        return cls(
            int(data.get("max_attempts", default.max_attempts)),
            float(data.get("min_delay_secs", default.min_delay_s)),
        )


@dataclass(frozen=True, slots=True)
class RecipientInput:
    phone_number: str
    id: str | None = None
    dynamic_variables: dict[str, Any] = field(default_factory=dict)
    config_override: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    call_name: str
    agent_id: str
    recipients: list[RecipientInput]
    phone_number_id: str | None = None
    scheduled_at: datetime | None = None
    timezone: str | None = None
    target_concurrency_limit: int | None = None
    telephony: TelephonyCallConfig = field(default_factory=TelephonyCallConfig)
    window: CallingWindow | None = None
    retry: RetryPolicy | None = None
