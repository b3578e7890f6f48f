"""Cancel, retry, delete and export a campaign."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy import delete, select, update

from sdr_agent.campaigns.clock import Clock
from sdr_agent.campaigns.window import CallingWindow, zones_for
from sdr_agent.services import Services
from sdr_agent.storage.models import BatchCallRow, BatchRecipientRow, ConversationRow, utcnow
from sdr_agent.storage.repos import campaigns as campaigns_repo
from sdr_agent.storage.repos.campaigns import BatchCall, Recipient
from sdr_agent.storage.repos.timeutil import unix_secs

EXPORT_COLUMNS = (
    "recipient_id",
    "phone_number",
    "status",
    "attempts",
    "outcomes",
    "detail",
    "next_attempt_at_unix",
    "conversation_id",
    "conversation_status",
    "call_successful",
    "duration_secs",
    "summary",
    "dynamic_variables",
)


class CampaignNotFoundError(LookupError):
    pass


class CampaignStateError(ValueError):
    """The request does not fit the campaign's state (e.g. retrying a cancelled one): a 409."""


async def cancel_campaign(services: Services, batch_id: str) -> BatchCall:
    """Stop dialing: pending recipients are cancelled; calls already under way finish normally."""
    async with services.db.session() as session:
        await campaigns_repo.begin_write(session)
        batch = await session.get(BatchCallRow, batch_id)
        if batch is None:
            raise CampaignNotFoundError(batch_id)
        if batch.status in ("pending", "in_progress"):
            batch.status = "cancelled"
            batch.updated_at = utcnow()
            await session.execute(
                update(BatchRecipientRow)
                .where(BatchRecipientRow.batch_id == batch_id, BatchRecipientRow.status == "pending")
                .values(status="cancelled", detail="campaign cancelled", updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        await session.flush()
        found = await campaigns_repo.get_batch(session, batch_id)
    assert found is not None
    return found


async def retry_campaign(services: Services, batch_id: str, clock: Clock) -> BatchCall:
    """Failed recipients (busy, no answer, failed) get a new round of attempts, inside calling hours."""
    now = clock.now()
    async with services.db.session() as session:
        await campaigns_repo.begin_write(session)
        batch = await session.get(BatchCallRow, batch_id)
        if batch is None:
            raise CampaignNotFoundError(batch_id)
        if batch.status == "cancelled":
            raise CampaignStateError(f"batch call {batch_id} was cancelled; submit a new one instead")
        window = CallingWindow.from_json(batch.calling_window or {})
        failed = list(
            await session.scalars(
                select(BatchRecipientRow).where(
                    BatchRecipientRow.batch_id == batch_id, BatchRecipientRow.status == "failed"
                )
            )
        )
        for recipient in failed:
            opens = window.next_open(now, zones_for(recipient.timezones))
            if opens is None:
                continue
            recipient.status = "pending"
            recipient.next_attempt_at = opens
            recipient.detail = "retry requested"
            recipient.updated_at = utcnow()
        batch.retry_count += 1
        if failed:
            batch.status = "in_progress"
        batch.updated_at = utcnow()
        await session.flush()
        found = await campaigns_repo.get_batch(session, batch_id)
    assert found is not None
    return found


async def delete_campaign(services: Services, batch_id: str) -> bool:
    """The campaign and its recipients go; their conversations stay in the history."""
    async with services.db.session() as session:
        result = await session.execute(delete(BatchCallRow).where(BatchCallRow.batch_id == batch_id))
        return bool(getattr(result, "rowcount", 0))


async def export_csv(services: Services, batch_id: str, limit: int | None = None) -> str:
    async with services.db.session() as session:
        if await session.get(BatchCallRow, batch_id) is None:
            raise CampaignNotFoundError(batch_id)
        recipients = await campaigns_repo.list_recipients(session, batch_id, with_attempts=True)
        if limit is not None:
            recipients = recipients[:limit]
        ids = [r.conversation_id for r in recipients if r.conversation_id]
        conversations = {
            row.conversation_id: row
            for row in await session.scalars(
                select(ConversationRow).where(ConversationRow.conversation_id.in_(ids))
            )
        }
    return _csv(recipients, conversations)


def _csv(recipients: Iterable[Recipient], conversations: dict[str, ConversationRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for recipient in recipients:
        conversation = conversations.get(recipient.conversation_id or "")
        analysis = (conversation.analysis or {}) if conversation else {}
        writer.writerow(
            [
                recipient.client_data.get("id") or recipient.recipient_id,
                recipient.phone_number,
                recipient.status,
                recipient.attempts,
                ";".join(a.outcome or "open" for a in recipient.attempt_log),
                recipient.detail or "",
                unix_secs(recipient.next_attempt_at) if recipient.status == "pending" else "",
                recipient.conversation_id or "",
                conversation.status if conversation else "",
                conversation.call_successful or "" if conversation else "",
                round(conversation.duration_secs, 1) if conversation else "",
                str(analysis.get("transcript_summary") or "").replace("\n", " "),
                _variables(recipient),
            ]
        )
    return out.getvalue()


def _variables(recipient: Recipient) -> str:
    values = recipient.client_data.get("dynamic_variables") or {}
    return ";".join(f"{key}={value}" for key, value in sorted(values.items()))
