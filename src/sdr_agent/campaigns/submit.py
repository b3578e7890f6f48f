"""Submitting a campaign: every row is checked before anything is written, so nothing is half-created.

Bad rows are named in the error (``recipients[3].phone_number: ...``). Numbers come out in E.164; each
recipient gets its candidate time zones (the submit's ``timezone``, else ``phonenumbers``) and the first
instant it may be dialed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sdr_agent.campaigns.clock import Clock
from sdr_agent.campaigns.model import RecipientInput, RetryPolicy, SubmitRequest
from sdr_agent.campaigns.numbers import InvalidNumberError, candidate_zones, to_e164
from sdr_agent.campaigns.window import CallingWindow, WindowError, parse_clock, parse_days, zone, zones_for
from sdr_agent.services import Services
from sdr_agent.settings import CampaignSettings
from sdr_agent.storage.models import BatchCallRow, BatchRecipientRow
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import campaigns as campaigns_repo
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.storage.repos.campaigns import BatchCall
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.telephony import variables

MAX_RECIPIENTS = 10_000


class SubmitError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Row:
    recipient_id: str
    phone_number: str
    zones: list[str]
    client_data: dict[str, Any]
    next_attempt_at: datetime


def default_window(settings: CampaignSettings) -> CallingWindow:
    return CallingWindow.clamped(
        parse_clock(settings.window_start), parse_clock(settings.window_end), parse_days(settings.window_days)
    )


def default_retry(settings: CampaignSettings) -> RetryPolicy:
    return RetryPolicy(settings.max_attempts, settings.retry_delay_s)


async def submit_campaign(services: Services, request: SubmitRequest, clock: Clock) -> BatchCall:
    settings = services.settings.campaigns
    window = request.window or default_window(settings)
    retry = request.retry or default_retry(settings)
    if retry.max_attempts < 1 or retry.max_attempts > 10 or retry.min_delay_s < 0:
        raise SubmitError(422, "retry_policy: max_attempts must be 1-10 and min_delay_secs not negative")
    if not request.recipients:
        raise SubmitError(422, "recipients: at least one recipient is required")
    if len(request.recipients) > MAX_RECIPIENTS:
        raise SubmitError(422, f"recipients: at most {MAX_RECIPIENTS} per batch call")
    if request.timezone:
        try:
            zone(request.timezone)
        except WindowError as exc:
            raise SubmitError(422, f"timezone: {exc}") from exc
    now = clock.now()
    start = max(now, request.scheduled_at) if request.scheduled_at else now
    async with services.db.session() as session:
        await campaigns_repo.begin_write(session)
        agent = await agents_repo.get_agent(session, request.agent_id)
        if agent is None:
            raise SubmitError(404, f"agent '{request.agent_id}' not found")
        if request.phone_number_id is not None:
            number = await numbers_repo.get_phone_number(session, request.phone_number_id)
            if number is None:
                raise SubmitError(404, f"phone number '{request.phone_number_id}' not found")
            if not number.supports_outbound:
                raise SubmitError(422, f"phone number {number.phone_number} does not support outbound calls")
        rows = _check_rows(request, agent.conversation_config, window, start)
        batch_id = new_id("btcal")
        session.add(
            BatchCallRow(
                batch_id=batch_id,
                name=request.call_name,
                agent_id=agent.agent_id,
                agent_name=agent.name,
                phone_number_id=request.phone_number_id,
                phone_provider="twilio",
                scheduled_at=request.scheduled_at or now,
                timezone=request.timezone,
                status="pending",
                target_concurrency_limit=request.target_concurrency_limit,
                telephony_call_config=request.telephony.to_json(),
                calling_window=window.to_json(),
                retry_policy=retry.to_json(),
                retry_count=0,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add_all(
            BatchRecipientRow(
                recipient_id=row.recipient_id,
                batch_id=batch_id,
                position=position,
                phone_number=row.phone_number,
                client_data=row.client_data,
                timezones=row.zones,
                status="pending",
                attempts=0,
                next_attempt_at=row.next_attempt_at,
                created_at=now,
                updated_at=now,
            )
            for position, row in enumerate(rows)
        )
        await session.flush()
        created = await campaigns_repo.get_batch(session, batch_id)
    assert created is not None
    return created


def _check_rows(
    request: SubmitRequest, agent_config: dict[str, Any], window: CallingWindow, start: datetime
) -> list[_Row]:
    seen_numbers: dict[str, int] = {}
    seen_ids: set[str] = set()
    rows: list[_Row] = []
    defaults = variables.placeholder_defaults(agent_config)
    for index, recipient in enumerate(request.recipients):
        where = f"recipients[{index}]"
        try:
            e164 = to_e164(recipient.phone_number)
        except InvalidNumberError as exc:
            raise SubmitError(422, f"{where}.phone_number: {exc}") from exc
        if e164 in seen_numbers:
            raise SubmitError(422, f"{where}: {e164} is a duplicate of recipients[{seen_numbers[e164]}]")
        seen_numbers[e164] = index
        if recipient.id is not None:
            if recipient.id in seen_ids:
                raise SubmitError(422, f"{where}.id: {recipient.id!r} is used twice")
            seen_ids.add(recipient.id)
        # The row's key is ours (a client's ids need only be unique within its batch); theirs is echoed back.
        recipient_id = new_id("rcpt")
        _check_variables(where, recipient, agent_config, defaults)
        zones = [request.timezone] if request.timezone else candidate_zones(e164)
        if not zones:
            raise SubmitError(422, f"{where}: the time zone of {e164} is unknown; pass the batch's timezone")
        first = window.next_open(start, zones_for(zones))
        if first is None:
            raise SubmitError(
                422, f"{where}: {e164} may be in zones {zones} with no common time inside the calling window"
            )
        rows.append(_Row(recipient_id, e164, zones, _client_data(recipient), first))
    return rows


def _check_variables(
    where: str, recipient: RecipientInput, agent_config: dict[str, Any], defaults: dict[str, Any]
) -> None:
    reserved = variables.reserved_names(recipient.dynamic_variables)
    if reserved:
        raise SubmitError(422, f"{where}: dynamic variables {', '.join(reserved)} are reserved")
    missing = variables.missing_variables(
        variables.effective_texts(agent_config, recipient.config_override),
        {**defaults, **recipient.dynamic_variables},
    )
    if missing:
        raise SubmitError(422, f"{where}: missing dynamic variables the agent needs: {', '.join(missing)}")


def _client_data(recipient: RecipientInput) -> dict[str, Any]:
    data: dict[str, Any] = {"dynamic_variables": dict(recipient.dynamic_variables)}
    if recipient.id is not None:
        data["id"] = recipient.id
    if recipient.config_override:
        data["conversation_config_override"] = dict(recipient.config_override)
    if recipient.user_id:
        data["user_id"] = recipient.user_id
    return data
