"""The delivery worker: claims due outbox rows, signs and POSTs them, and schedules retries.

2xx = delivered; 408, 429, 5xx, 3xx, timeouts and connection errors = retried with exponential backoff and
jitter until the retry window (24 h by default) is spent; any other 4xx = dead at once (the receiver said
no). The body is the exact stored JSON; it is signed at send time so a late retry carries a fresh timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from sdr_agent.settings import WebhookDeliverySettings
from sdr_agent.storage.db import Database
from sdr_agent.storage.models import utcnow
from sdr_agent.storage.repos.webhooks import get_webhook_config
from sdr_agent.webhooks import outbox
from sdr_agent.webhooks.outbox import AttemptResult, ClaimedDelivery
from sdr_agent.webhooks.signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

USER_AGENT = "sdr-agent-webhooks/0.1"
_ERROR_BODY_CHARS = 200


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential with 'equal jitter': half the step is fixed, half random, so retries never bunch up."""
    step = min(max_s, base_s * (2.0 ** max(0, attempt - 1)))
    return step / 2.0 + rng.uniform(0.0, step / 2.0)


def classify(status_code: int) -> str:
    if 200 <= status_code < 300:
        return "delivered"
    if status_code in (408, 429) or not 400 <= status_code < 500:
        return "retry"
    return "dead"


def retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "").strip()
    return float(raw) if raw.isdigit() else None


class DeliveryWorker:
    """One per process, started by ``webhooks.runtime``. ``wake()`` makes it look for work at once."""

    def __init__(
        self,
        db: Database,
        settings: WebhookDeliverySettings,
        *,
        fallback_secret: str | None = None,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._fallback_secret = fallback_secret
        # ``transport``: the address policy's guarded transport (receivers are client-supplied URLs).
        self._http = http or httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": USER_AGENT}, transport=transport,
            trust_env=transport is None,
        )
        self._owns_http = http is None
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-delivery-worker")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let in-flight attempts finish for up to ``grace_s``; unfinished claims are handed back."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            self._task = None
        if self._owns_http:
            await self._http.aclose()

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and attempt each; returns how many were attempted."""
        claims = await outbox.claim_due(
            self._db, now=utcnow(), lease_s=self._lease_s(), limit=self._settings.batch_size
        )
        if not claims:
            return 0
        limit = asyncio.Semaphore(max(1, self._settings.max_concurrency))

        async def bounded(claim: ClaimedDelivery) -> None:
            async with limit:
                await self._attempt_safely(claim)

        tasks = [asyncio.create_task(bounded(c)) for c in claims]
        self._in_flight.update(tasks)
        try:
            await asyncio.gather(*tasks)
        finally:
            self._in_flight.difference_update(tasks)
        return len(claims)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                handled = await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("webhook worker could not claim deliveries (failure %d)", failures)
                handled = 0
            if self._stopping:
                break
            if handled >= self._settings.batch_size:
                continue
            pause = self._settings.poll_interval_s * min(2**failures, 30)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _attempt_safely(self, claim: ClaimedDelivery) -> None:
        try:
            result = await self._attempt(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    outbox.release(self._db, claim, now=utcnow(), reason="interrupted by shutdown")
                )
            raise
        except Exception as exc:
            log.exception("webhook delivery %s failed unexpectedly", claim.delivery_id)
            result = self._retry_or_give_up(
                claim, AttemptResult(outcome="retry", error=f"internal error: {exc}")
            )
        if not await outbox.record_attempt(self._db, claim, result, now=utcnow()):
            log.warning(
                "webhook delivery %s: claim was lost before its attempt was recorded", claim.delivery_id
            )

    async def _attempt(self, claim: ClaimedDelivery) -> AttemptResult:
        secret, url, problem = await self._receiver(claim)
        if secret is None:
            return AttemptResult(outcome="dead", error=problem)
        body = claim.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret),
            "Idempotency-Key": claim.idempotency_key,
            "User-Agent": USER_AGENT,
        }
        started = time.perf_counter()
        try:
            response = await self._http.post(
                url, content=body, headers=headers, timeout=self._settings.timeout_s
            )
        except httpx.TimeoutException as exc:
            return self._retry_or_give_up(claim, self._failure(f"timeout: {type(exc).__name__}", started))
        except httpx.HTTPError as exc:
            return self._retry_or_give_up(claim, self._failure(f"{type(exc).__name__}: {exc}", started))
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        verdict = classify(response.status_code)
        if verdict == "delivered":
            return AttemptResult(
                outcome="delivered", status_code=response.status_code, duration_ms=elapsed_ms
            )
        error = f"HTTP {response.status_code}: {response.text[:_ERROR_BODY_CHARS]}".strip()
        result = AttemptResult(
            outcome=verdict, status_code=response.status_code, error=error, duration_ms=elapsed_ms
        )
        if verdict == "dead":
            log.warning(
                "webhook delivery %s to %s rejected with HTTP %d; marked dead (replayable)",
                claim.delivery_id,
                _host(url),
                response.status_code,
            )
            return result
        return self._retry_or_give_up(claim, result, hint_s=retry_after_s(response))

    def _retry_or_give_up(
        self, claim: ClaimedDelivery, result: AttemptResult, hint_s: float | None = None
    ) -> AttemptResult:
        delay = backoff_delay(
            claim.attempt, self._settings.base_delay_s, self._settings.max_delay_s, self._rng
        )
        if hint_s is not None:
            delay = max(delay, min(hint_s, self._settings.max_delay_s))
        now = utcnow()
        next_at = now + timedelta(seconds=delay)
        if next_at > claim.window_start + timedelta(seconds=self._settings.max_age_s):
            log.warning(
                "webhook delivery %s to %s gave up after %d attempts: %s",
                claim.delivery_id,
                _host(claim.url),
                claim.attempt,
                result.error,
            )
            result.outcome = "dead"
            result.error = f"gave up after {claim.attempt} attempts: {result.error}"
            return result
        result.next_attempt_at = next_at
        return result

    def _failure(self, error: str, started: float) -> AttemptResult:
        return AttemptResult(
            outcome="retry", error=error, duration_ms=(time.perf_counter() - started) * 1000.0
        )

    async def _receiver(self, claim: ClaimedDelivery) -> tuple[str | None, str, str]:
        """(signing secret, URL, problem): the receiver's current URL and secret, or None and why not."""
        secret, url = self._fallback_secret, claim.url
        if claim.webhook_id is not None:
            async with self._db.session() as session:
                config = await get_webhook_config(session, claim.webhook_id)
            if config is None:
                return None, url, f"webhook '{claim.webhook_id}' no longer exists"
            if config.is_disabled:
                return None, url, f"webhook '{claim.webhook_id}' is disabled"
            secret, url = config.secret or secret, config.url
        if not secret:
            return None, url, "no signing secret (set one on the webhook or SDR_WEBHOOK_SECRET)"
        return secret, url, ""

    def _lease_s(self) -> float:
        return max(self._settings.lease_s, self._settings.timeout_s + 5.0)


def _host(url: str) -> str:
    # Receiver URLs may carry tokens in their path or query; logs get the host only.
    return urlsplit(url).netloc or "?"
