"""Phone-number shapes (provider twilio). The auth token goes in and never comes out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from sdr_agent.storage.repos.phone_numbers import PhoneNumber

E164_PATTERN = r"^\+[1-9]\d{6,14}$"
# Twilio credentials travel in an HTTP Basic header, which carries Latin-1 at most: anything but printable
# ASCII would be stored and then crash every REST call placed with it. Twilio's sids are letters and digits.
TWILIO_SID_PATTERN = r"^[A-Za-z0-9]+$"
TWILIO_TOKEN_PATTERN = r"^[!-~]+$"


class PhoneNumberCreateRequest(BaseModel):
    provider: Literal["twilio"] = "twilio"
    phone_number: str = Field(pattern=E164_PATTERN, description="E.164, e.g. +15550001111")
    label: str = Field(default="", max_length=255)
    sid: str = Field(min_length=2, max_length=64, pattern=TWILIO_SID_PATTERN)
    token: str = Field(min_length=1, max_length=255, pattern=TWILIO_TOKEN_PATTERN)
    agent_id: str | None = None
    supports_inbound: StrictBool | None = None
    supports_outbound: StrictBool | None = None


class PhoneNumberUpdateRequest(BaseModel):
    """``agent_id: null`` unassigns; a field left out is left as is."""

    agent_id: str | None = None
    label: str | None = Field(default=None, max_length=255)


class CreatePhoneNumberResponse(BaseModel):
    phone_number_id: str


class AssignedAgent(BaseModel):
    agent_id: str
    agent_name: str


class PhoneNumberResponse(BaseModel):
    phone_number_id: str
    phone_number: str
    label: str
    provider: str
    supports_inbound: bool
    supports_outbound: bool
    assigned_agent: AssignedAgent | None

    @classmethod
    def from_record(cls, number: PhoneNumber) -> PhoneNumberResponse:
        assigned = (
            AssignedAgent(agent_id=number.agent_id, agent_name=number.agent_name or "")
            if number.agent_id is not None
            else None
        )
        return cls(
            phone_number_id=number.phone_number_id,
            phone_number=number.phone_number,
            label=number.label,
            provider=number.provider,
            supports_inbound=number.supports_inbound,
            supports_outbound=number.supports_outbound,
            assigned_agent=assigned,
        )
