"""Phone numbers: import (twilio), list (a bare JSON array), get, assign an agent, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from sdr_agent.api.deps import SessionDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.phone_numbers import (
    CreatePhoneNumberResponse,
    PhoneNumberCreateRequest,
    PhoneNumberResponse,
    PhoneNumberUpdateRequest,
)
from sdr_agent.storage.repos import phone_numbers as numbers_repo

router = APIRouter(
    prefix="/v1/convai/phone-numbers", tags=["phone numbers"], dependencies=[Depends(require_api_key)]
)


@router.post("", response_model=CreatePhoneNumberResponse)
async def create_phone_number(
    body: PhoneNumberCreateRequest, session: SessionDep
) -> CreatePhoneNumberResponse:
    try:
        number = await numbers_repo.create_phone_number(
            session,
            phone_number=body.phone_number,
            label=body.label,
            provider=body.provider,
            twilio_sid=body.sid,
            twilio_token=body.token,
            agent_id=body.agent_id,
            supports_inbound=True if body.supports_inbound is None else body.supports_inbound,
            supports_outbound=True if body.supports_outbound is None else body.supports_outbound,
        )
    except numbers_repo.UnknownAgentError as exc:
        raise NotFoundError("agent", exc.agent_id) from exc
    except numbers_repo.PhoneNumberExistsError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    await session.commit()
    return CreatePhoneNumberResponse(phone_number_id=number.phone_number_id)


@router.get("", response_model=list[PhoneNumberResponse])
async def list_phone_numbers(
    session: SessionDep, agent_id: str | None = None, provider: str | None = None
) -> list[PhoneNumberResponse]:
    numbers = await numbers_repo.list_phone_numbers(session, agent_id=agent_id, provider=provider)
    return [PhoneNumberResponse.from_record(n) for n in numbers]


@router.get("/{phone_number_id}", response_model=PhoneNumberResponse)
async def get_phone_number(phone_number_id: str, session: SessionDep) -> PhoneNumberResponse:
    number = await numbers_repo.get_phone_number(session, phone_number_id)
    if number is None:
        raise NotFoundError("phone number", phone_number_id)
    return PhoneNumberResponse.from_record(number)


@router.patch("/{phone_number_id}", response_model=PhoneNumberResponse)
async def update_phone_number(
    phone_number_id: str, body: PhoneNumberUpdateRequest, session: SessionDep
) -> PhoneNumberResponse:
    sent = body.model_fields_set
    try:
        number = await numbers_repo.update_phone_number(
            session,
            phone_number_id,
            agent_id=body.agent_id if "agent_id" in sent else numbers_repo.UNSET,
            label=body.label if "label" in sent and body.label is not None else numbers_repo.UNSET,
        )
    except numbers_repo.UnknownAgentError as exc:
        raise NotFoundError("agent", exc.agent_id) from exc
    if number is None:
        raise NotFoundError("phone number", phone_number_id)
    await session.commit()
    return PhoneNumberResponse.from_record(number)


@router.delete("/{phone_number_id}")
async def delete_phone_number(phone_number_id: str, session: SessionDep) -> dict[str, Any]:
    if not await numbers_repo.delete_phone_number(session, phone_number_id):
        raise NotFoundError("phone number", phone_number_id)
    await session.commit()
    return {}
