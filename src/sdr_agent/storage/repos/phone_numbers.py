"""Imported phone numbers (provider twilio) and their agent assignment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import AgentRow, PhoneNumberRow, utcnow
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.storage.repos.timeutil import as_utc


class PhoneNumberExistsError(ValueError):
    """The E.164 number is already imported."""


class UnknownAgentError(LookupError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.agent_id = agent_id


class _Unset:
    """Marks "leave as is" where ``None`` means "clear"."""


UNSET = _Unset()


@dataclass(slots=True)
class PhoneNumber:
    phone_number_id: str
    phone_number: str
    label: str
    provider: str
    twilio_sid: str | None
    # Secret: kept out of repr so it never reaches a log line; the API never serialises it.
    twilio_token: str | None = field(repr=False)
    agent_id: str | None
    agent_name: str | None
    supports_inbound: bool
    supports_outbound: bool
    created_at: datetime


def _record(row: PhoneNumberRow, agent_name: str | None) -> PhoneNumber:
    return PhoneNumber(
        phone_number_id=row.phone_number_id,
        phone_number=row.phone_number,
        label=row.label,
        provider=row.provider,
        twilio_sid=row.twilio_sid,
        twilio_token=row.twilio_token,
        agent_id=row.agent_id,
        agent_name=agent_name,
        supports_inbound=row.supports_inbound,
        supports_outbound=row.supports_outbound,
        created_at=as_utc(row.created_at),
    )


async def _agent_exists(session: AsyncSession, agent_id: str) -> bool:
    return await session.scalar(select(AgentRow.agent_id).where(AgentRow.agent_id == agent_id)) is not None


async def create_phone_number(
    session: AsyncSession,
    *,
    phone_number: str,
    label: str = "",
    provider: str = "twilio",
    twilio_sid: str | None = None,
    twilio_token: str | None = None,
    agent_id: str | None = None,
    supports_inbound: bool = True,
    supports_outbound: bool = True,
) -> PhoneNumber:
    """Raises PhoneNumberExistsError for a duplicate number and UnknownAgentError for a missing agent."""
    if agent_id is not None and not await _agent_exists(session, agent_id):
        raise UnknownAgentError(agent_id)
    if await get_phone_number_by_e164(session, phone_number) is not None:
        raise PhoneNumberExistsError(f"phone number {phone_number} is already imported")
    now = utcnow()
    row = PhoneNumberRow(
        phone_number_id=new_id("phnum"),
        phone_number=phone_number,
        label=label,
        provider=provider,
        twilio_sid=twilio_sid,
        twilio_token=twilio_token,
        agent_id=agent_id,
        supports_inbound=supports_inbound,
        supports_outbound=supports_outbound,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent import of the same number
        raise PhoneNumberExistsError(f"phone number {phone_number} is already imported") from exc
    return _record(row, await _agent_name(session, agent_id))


async def _agent_name(session: AsyncSession, agent_id: str | None) -> str | None:
    if agent_id is None:
        return None
    return await session.scalar(select(AgentRow.name).where(AgentRow.agent_id == agent_id))


async def _get_where(session: AsyncSession, condition: ColumnElement[bool]) -> PhoneNumber | None:
    query = (
        select(PhoneNumberRow, AgentRow.name)
        .outerjoin(AgentRow, AgentRow.agent_id == PhoneNumberRow.agent_id)
        .where(condition)
        .execution_options(populate_existing=True)
    )
    found = (await session.execute(query)).first()
    return None if found is None else _record(found[0], found[1])


async def get_phone_number(session: AsyncSession, phone_number_id: str) -> PhoneNumber | None:
    return await _get_where(session, PhoneNumberRow.phone_number_id == phone_number_id)


async def get_phone_number_by_e164(session: AsyncSession, number: str) -> PhoneNumber | None:
    return await _get_where(session, PhoneNumberRow.phone_number == number)


async def get_phone_number_for_agent(session: AsyncSession, agent_id: str) -> PhoneNumber | None:
    """The agent's outbound-capable number (oldest first when several are assigned)."""
    query = (
        select(PhoneNumberRow)
        .where(PhoneNumberRow.agent_id == agent_id, PhoneNumberRow.supports_outbound.is_(True))
        .order_by(PhoneNumberRow.created_at, PhoneNumberRow.phone_number_id)
        .limit(1)
    )
    row = await session.scalar(query)
    return None if row is None else await get_phone_number(session, row.phone_number_id)


async def list_phone_numbers(
    session: AsyncSession, *, agent_id: str | None = None, provider: str | None = None
) -> list[PhoneNumber]:
    """All numbers (optionally one agent's or one provider's), newest first."""
    query = (
        select(PhoneNumberRow, AgentRow.name)
        .outerjoin(AgentRow, AgentRow.agent_id == PhoneNumberRow.agent_id)
        .order_by(PhoneNumberRow.created_at.desc(), PhoneNumberRow.phone_number_id.desc())
    )
    if agent_id is not None:
        query = query.where(PhoneNumberRow.agent_id == agent_id)
    if provider is not None:
        query = query.where(PhoneNumberRow.provider == provider)
    return [_record(row, name) for row, name in (await session.execute(query)).all()]


async def update_phone_number(
    session: AsyncSession,
    phone_number_id: str,
    *,
    agent_id: str | _Unset | None = UNSET,
    label: str | _Unset = UNSET,
) -> PhoneNumber | None:
    """``agent_id=None`` unassigns. Returns None if the number does not exist; raises UnknownAgentError."""
    row = await session.get(PhoneNumberRow, phone_number_id)
    if row is None:
        return None
    if isinstance(agent_id, str) and not await _agent_exists(session, agent_id):
        raise UnknownAgentError(agent_id)
    if not isinstance(agent_id, _Unset):
        row.agent_id = agent_id
    if not isinstance(label, _Unset):
        row.label = label
    row.updated_at = utcnow()
    await session.flush()
    return await get_phone_number(session, phone_number_id)


async def delete_phone_number(session: AsyncSession, phone_number_id: str) -> bool:
    result = await session.execute(
        delete(PhoneNumberRow).where(PhoneNumberRow.phone_number_id == phone_number_id)
    )
    return bool(getattr(result, "rowcount", 0))
