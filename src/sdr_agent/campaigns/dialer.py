"""The dialer: each tick closes finished attempts, then claims due recipients and places their calls.

Durability: an attempt (and the conversation its call will write) is committed *before* Twilio is asked,
and a recipient leaves ``pending`` in that same transaction, so no process — this one after a kill -9, or
another replica — can dial it again for that attempt. An attempt whose process died before Twilio answered
is closed as ``unknown`` after ``dial_lease_s``; calls whose callbacks were lost are asked about on Twilio's
REST API after ``reconcile_after_s``.

Concurrency: live calls are counted in the database (every direction, every campaign), under a PostgreSQL
advisory lock, so replicas together respect ``SDR_MAX_CONCURRENT_CALLS``; each campaign keeps to its
``target_concurrency_limit``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.campaigns.clock import Clock, clock_of
from sdr_agent.campaigns.model import RecipientStatus
from sdr_agent.campaigns.opt_out import record_opt_out
from sdr_agent.campaigns.outcomes import classify, finish_attempt
from sdr_agent.campaigns.reconcile import Unconfirmed, ask_twilio, progress_status, settle_unconfirmed
from sdr_agent.campaigns.submit import default_retry
from sdr_agent.campaigns.window import CallingWindow, zones_for
from sdr_agent.services import Services
from sdr_agent.storage.models import BatchAttemptRow, BatchCallRow, BatchRecipientRow, ConversationRow
from sdr_agent.storage.repos import campaigns as campaigns_repo
from sdr_agent.storage.repos import suppression as suppression_repo
from sdr_agent.storage.repos.ids import new_id
from sdr_agent.telephony.call_config import CallConfigError, parse_call_config
from sdr_agent.telephony.outbound import (
    CallSetupError,
    OutboundCallRequest,
    PreparedCall,
    dial_prepared,
    prepare_outbound_call,
)

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key: one dispatcher at a time across replicas, so the live-call count is exact.
_DISPATCH_LOCK = 0x5D12_0013
# A conversation older than this is not counted as a live call even if it never closed (a crashed process).
_LIVE_HORIZON = timedelta(hours=2)


@dataclass(slots=True)
class TickResult:
    dispatched: int = 0
    finished: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Dial:
    recipient_id: str
    attempt_id: str
    attempt_no: int
    prepared: PreparedCall


class Dialer:
    def __init__(self, services: Services, clock: Clock | None = None) -> None:
        self.services = services
        self._clock = clock
        self.settings = services.settings.campaigns
        self._lock = asyncio.Lock()
        self._calls: set[asyncio.Task[None]] = set()

    @property
    def clock(self) -> Clock:
        # Resolved on every use: a test may swap in a fake clock after the app started.
        return self._clock or clock_of(self.services)

    async def tick(self) -> TickResult:
        """One pass; safe to run concurrently in several processes."""
        async with self._lock:
            result = TickResult()
            result.finished = await self.reconcile()
            result.dispatched = await self.dispatch()
            await self.update_batches()
            return result

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the Twilio requests this process started (tests, shutdown)."""
        if self._calls:
            await asyncio.wait(set(self._calls), timeout=timeout)

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self) -> int:
        now, real_now = self.clock.now(), datetime.now(UTC)
        if not await self._anything_due(now):
            return 0
        async with self.services.db.session() as session:
            await campaigns_repo.begin_write(session)
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DISPATCH_LOCK})
            live = await campaigns_repo.live_call_count(session, real_now - _LIVE_HORIZON)
            capacity = self.services.settings.max_concurrent_calls - live
            if capacity <= 0:
                return 0
            due = await campaigns_repo.claim_due(session, now, self.settings.claim_batch_size)
            if not due:
                return 0
            active = await campaigns_repo.active_per_batch(session)
            suppressed = await suppression_repo.suppressed_among(session, (r.phone_number for r, _ in due))
            dials: list[_Dial] = []
            for recipient, batch in due:
                if len(dials) >= capacity:
                    break
                if recipient.phone_number in suppressed:
                    recipient.status = RecipientStatus.CANCELLED.value
                    recipient.detail = "on the do-not-call list"
                    recipient.updated_at = real_now
                    continue
                if not self._inside_window(recipient, batch, now):
                    continue
                limit = batch.target_concurrency_limit or self.settings.default_concurrency
                if active.get(batch.batch_id, 0) >= limit:
                    continue
                dial = await self._record_attempt(session, recipient, batch, real_now)
                if dial is not None:
                    active[batch.batch_id] = active.get(batch.batch_id, 0) + 1
                    dials.append(dial)
        # Committed: now, and only now, ask Twilio.
        for dial in dials:
            task = asyncio.create_task(self._dial(dial), name=f"campaign-dial-{dial.recipient_id}")
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        return len(dials)

    async def _anything_due(self, now: datetime) -> bool:
        """A read without locks: most ticks find nothing to dial and must not queue behind writers (or make
        them queue behind a write lock taken for nothing)."""
        async with self.services.db.session() as session:
            return bool(await campaigns_repo.claim_due(session, now, 1, lock=False))

    def _inside_window(self, recipient: BatchRecipientRow, batch: BatchCallRow, now: datetime) -> bool:
        window = CallingWindow.from_json(batch.calling_window or {})
        zones = zones_for(recipient.timezones)
        if window.is_open(now, zones):
            return True
        # Outside its hours (the clock moved on since it was scheduled): wait for the next opening.
        recipient.next_attempt_at = window.next_open(now, zones)
        if recipient.next_attempt_at is None:
            recipient.status = RecipientStatus.FAILED.value
            recipient.detail = "no time inside the calling window"
        return False

    async def _record_attempt(
        self, session: AsyncSession, recipient: BatchRecipientRow, batch: BatchCallRow, real_now: datetime
    ) -> _Dial | None:
        client = recipient.client_data or {}
        try:
            request = OutboundCallRequest(
                agent_id=batch.agent_id,
                to_number=recipient.phone_number,
                dynamic_variables=dict(client.get("dynamic_variables") or {}),
                config_override=dict(client.get("conversation_config_override") or {}),
                phone_number_id=batch.phone_number_id,
                telephony=parse_call_config(batch.telephony_call_config or {}),
            )
            # Everything that can refuse the call is checked before the conversation row is written.
            prepared = await prepare_outbound_call(session, self.services, request, new_id("conv"))
        except (CallSetupError, CallConfigError) as exc:
            recipient.status = RecipientStatus.FAILED.value
            recipient.detail = str(getattr(exc, "detail", exc))[:255]
            recipient.updated_at = real_now
            return None
        attempt_id = new_id("bcatt")
        recipient.attempts += 1
        session.add(
            BatchAttemptRow(
                attempt_id=attempt_id,
                recipient_id=recipient.recipient_id,
                batch_id=batch.batch_id,
                attempt_no=recipient.attempts,
                conversation_id=prepared.conversation_id,
                started_at=real_now,
            )
        )
        recipient.status = RecipientStatus.DISPATCHED.value
        recipient.conversation_id = prepared.conversation_id
        recipient.checked_at = real_now
        recipient.detail = None
        recipient.updated_at = real_now
        return _Dial(recipient.recipient_id, attempt_id, recipient.attempts, prepared)

    async def _dial(self, dial: _Dial) -> None:
        try:
            placed = await dial_prepared(self.services, dial.prepared)
        except CallSetupError as exc:
            # The conversation is already marked failed; the next reconcile closes the attempt from it.
            log.info("campaign call to %s refused: %s", dial.prepared.to_number, exc.detail)
            return
        except Exception:
            log.exception("campaign dial failed unexpectedly")
            return
        try:
            async with self.services.db.session() as session:
                await session.execute(
                    update(BatchAttemptRow)
                    .where(BatchAttemptRow.attempt_id == dial.attempt_id, BatchAttemptRow.call_sid.is_(None))
                    .values(call_sid=placed.call_sid)
                    .execution_options(synchronize_session=False)
                )
                await progress_status(session, dial.recipient_id, dial.attempt_no, RecipientStatus.INITIATED)
        except Exception as exc:
            # Only bookkeeping: the conversation holds the sid and reconcile copies it onto the attempt.
            log.warning("could not note call %s on its attempt yet: %s", placed.call_sid, type(exc).__name__)

    # ------------------------------------------------------------------ outcomes

    async def reconcile(self) -> int:
        now, real_now = self.clock.now(), datetime.now(UTC)
        stale_before = real_now - timedelta(seconds=self.settings.reconcile_after_s)
        dial_lease = real_now - timedelta(seconds=self.settings.dial_lease_s)
        to_check: list[tuple[str, str, str | None]] = []
        unconfirmed: list[Unconfirmed] = []
        finished = 0
        async with self.services.db.session() as session:
            peek = await campaigns_repo.active_attempts(session)
        if not any(_wants_write(r, a, c, stale_before, dial_lease) for r, a, c in peek):
            return 0
        async with self.services.db.session() as session:
            await campaigns_repo.begin_write(session)
            rows = await campaigns_repo.active_attempts(session)
            batches: dict[str, BatchCallRow | None] = {}
            for recipient, attempt, conversation in rows:
                if attempt.call_sid is None and conversation is not None and conversation.call_sid:
                    # Twilio placed the call but this process died before it heard the sid back: the voice
                    # webhook recorded it on the conversation.
                    attempt.call_sid = conversation.call_sid
                verdict = classify(conversation)
                if verdict is None and conversation is not None and conversation.status == "initiated":
                    started = _aware(attempt.started_at)
                    if attempt.call_sid is None and conversation.call_sid is None and started < dial_lease:
                        # Recorded, but no sid and no webhook: did Twilio place it before the process died?
                        unconfirmed.append(
                            Unconfirmed(
                                recipient.recipient_id,
                                attempt.attempt_id,
                                conversation.conversation_id,
                                recipient.phone_number,
                                conversation.from_number or "",
                                started,
                            )
                        )
                        continue
                if verdict is None:
                    await _note_progress(session, recipient, attempt, conversation)
                    checked = _aware(recipient.checked_at) if recipient.checked_at else None
                    call_sid = attempt.call_sid or (conversation.call_sid if conversation else None)
                    if call_sid and (checked is None or checked < stale_before):
                        to_check.append((recipient.recipient_id, call_sid, attempt.conversation_id))
                        recipient.checked_at = real_now
                    continue
                if recipient.batch_id not in batches:
                    batches[recipient.batch_id] = await session.get(BatchCallRow, recipient.batch_id)
                batch = batches[recipient.batch_id]
                if batch is None:
                    continue
                await record_opt_out(session, conversation)
                status = await finish_attempt(
                    session,
                    recipient,
                    attempt,
                    batch,
                    verdict,
                    now=now,
                    real_now=real_now,
                    default_retry=default_retry(self.settings),
                )
                finished += status is not None
        if to_check:
            # Lost callbacks are rare but come in bunches (a restart): ask about them side by side.
            await asyncio.gather(*(ask_twilio(self.services, sid, cid) for _, sid, cid in to_check))
        for attempt_info in unconfirmed:
            finished += await settle_unconfirmed(
                self.services, attempt_info, now=now, default_retry=default_retry(self.settings)
            )
        return finished

    async def update_batches(self) -> None:
        async with self.services.db.session() as session:
            progress = await campaigns_repo.open_batches_progress(session)
        changes = [p for p in progress if (p[2] and p[4] == 0) or (p[3] and p[1] == "pending")]
        if not changes:
            return
        async with self.services.db.session() as session:
            await campaigns_repo.begin_write(session)
            for batch_id, status, total, dialed, still_open in changes:
                if total and still_open == 0:
                    await campaigns_repo.set_batch_status(
                        session, batch_id, "completed", from_statuses=("pending", "in_progress")
                    )
                elif dialed and status == "pending":
                    await campaigns_repo.set_batch_status(
                        session, batch_id, "in_progress", from_statuses=("pending",)
                    )


async def _note_progress(
    session: AsyncSession,
    recipient: BatchRecipientRow,
    attempt: BatchAttemptRow,
    conversation: object,
) -> None:
    status = getattr(conversation, "status", None)
    if status == "in-progress" and recipient.status != RecipientStatus.IN_PROGRESS.value:
        recipient.status = RecipientStatus.IN_PROGRESS.value
    elif (
        status == "initiated"
        and recipient.status == RecipientStatus.DISPATCHED.value
        and getattr(conversation, "call_sid", None)
    ):
        recipient.status = RecipientStatus.INITIATED.value


def _wants_write(
    recipient: BatchRecipientRow,
    attempt: BatchAttemptRow,
    conversation: ConversationRow | None,
    stale_before: datetime,
    dial_lease: datetime,
) -> bool:
    """Whether reconcile has anything to change for this attempt (mirrors the decisions it makes)."""
    if conversation is None or classify(conversation) is not None:
        return True
    if attempt.call_sid is None and conversation.call_sid:
        return True
    if (
        conversation.status == "initiated"
        and attempt.call_sid is None
        and _aware(attempt.started_at) < dial_lease
    ):
        return True
    if conversation.status == "in-progress" and recipient.status != RecipientStatus.IN_PROGRESS.value:
        return True
    if conversation.status == "initiated" and recipient.status == RecipientStatus.DISPATCHED.value:
        return bool(conversation.call_sid)
    call_sid = attempt.call_sid or conversation.call_sid
    return bool(call_sid) and (recipient.checked_at is None or _aware(recipient.checked_at) < stale_before)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
