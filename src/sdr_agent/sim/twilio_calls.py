"""What the Twilio stand-in does with a call: ring, call back, fetch TwiML, run it, stream media.

Every request to our server is signed exactly as Twilio signs it (the real library's
``RequestValidator.compute_signature`` over the public URL and the form fields) and sent to the local target.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
from starlette.responses import JSONResponse

from sdr_agent.sim.call_record import CallbackRecord, SimulatedCall
from sdr_agent.sim.twilio_media import MediaStreamCaller
from sdr_agent.sim.twiml_reader import TwimlError, Verb, read_twiml
from sdr_agent.telephony.twilio.signature import SIGNATURE_HEADER, compute_signature

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
# Why a stream ended → whether the call carries on with the TwiML after </Connect>.
_CONTINUES_AFTER_STREAM = {"agent-closed-stream", "stream-failed"}
_MAX_REDIRECTS = 10
DEFAULT_TIMEOUT_S = 60  # Twilio's default ring time for Calls.json


def amd_verdict(call: SimulatedCall) -> tuple[str, float]:
    """(AnsweredBy, when it is known in ms after answer) for the plan's answerer and the detection mode."""
    plan = call.plan
    if plan.answered_by == "human":
        return "human", float(plan.amd_ms)
    if plan.answered_by == "fax":
        return "fax", float(plan.amd_ms)
    if (call.machine_detection or "").lower() == "detectmessageend":
        return plan.machine_end, float(plan.greeting_ms)
    return "machine_start", float(plan.amd_ms)


def twilio_error(status: int, code: int | None, message: str) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if code:
        body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
    return JSONResponse(body, status_code=status)


def _ws_base(http_base: str) -> str:
    if http_base.startswith("https://"):
        return "wss://" + http_base.removeprefix("https://")
    if http_base.startswith("http://"):
        return "ws://" + http_base.removeprefix("http://")
    return http_base


class CallRunner:
    def __init__(
        self,
        accounts: dict[str, str],
        *,
        public_base_url: str,
        target_base_url: str | None,
        target_ws_base_url: str | None,
    ) -> None:
        self.accounts = accounts
        self.public_base_url = public_base_url.rstrip("/")
        self.target_base_url = target_base_url.rstrip("/") if target_base_url else None
        self.public_ws_base = _ws_base(self.public_base_url)
        self.target_ws_base = (
            target_ws_base_url or (_ws_base(self.target_base_url) if self.target_base_url else "")
        ).rstrip("/") or None
        self.http: httpx.AsyncClient | None = None
        self._amd_tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ helpers

    def clock_ms(self, call: SimulatedCall) -> float:
        return (asyncio.get_running_loop().time() - call.created_monotonic) * 1000.0

    def http_target(self, url: str) -> str:
        if self.target_base_url and url.startswith(self.public_base_url):
            return self.target_base_url + url[len(self.public_base_url) :]
        return url

    def stream_target(self, call: SimulatedCall, public_url: str) -> tuple[str, dict[str, str]]:
        target = public_url
        if self.target_ws_base and public_url.startswith(self.public_ws_base):
            target = self.target_ws_base + public_url[len(self.public_ws_base) :]
        # Twilio signs the WebSocket upgrade too: the wss:// URL as written in the TwiML, no params.
        signature = compute_signature(self._token(call), public_url, {})
        return target, {SIGNATURE_HEADER: signature}

    def _token(self, call: SimulatedCall) -> str:
        return self.accounts.get(call.account_sid, "")

    def resource(self, call: SimulatedCall) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {
            "sid": call.sid,
            "account_sid": call.account_sid,
            "to": call.to,
            "from": call.from_,
            "status": call.status,
            "direction": call.direction,
            "api_version": API_VERSION,
            "date_created": format_datetime(call.created_at, usegmt=True),
            "start_time": format_datetime(call.created_at, usegmt=True),
            "date_updated": now,
            "duration": str(math.ceil(call.duration_s)) if call.ended.is_set() else None,
            "answered_by": call.answered_by,
            "uri": f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}.json",
        }

    def _base_form(self, call: SimulatedCall, call_status: str) -> dict[str, str]:
        return {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call_status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }

    async def _signed_post(self, url: str, form: dict[str, str], call: SimulatedCall) -> httpx.Response:
        assert self.http is not None, "stand-in not started"
        signature = compute_signature(self._token(call), url, form)
        return await self.http.post(self.http_target(url), data=form, headers={SIGNATURE_HEADER: signature})

    # ------------------------------------------------------------------ the call

    async def run(self, call: SimulatedCall) -> None:
        try:
            await self._run(call)
        except Exception as exc:  # the stand-in must never leave a waiting test hanging
            log.exception("stand-in call %s failed", call.sid)
            call.webhook_errors.append(f"stand-in error: {type(exc).__name__}: {exc}")
            if call.status not in ("completed", "busy", "failed", "no-answer", "canceled"):
                call.status = "failed"
        finally:
            if call.ended_ms is None:
                call.ended_ms = self.clock_ms(call)
            call.ended.set()

    async def _run(self, call: SimulatedCall) -> None:
        if call.direction == "outbound-api":
            outcome, ring_ms = self._ringing(call)
            await self.post_status(call, "initiated", "initiated")
            if await self._ring(call, ring_ms / 2):
                return
            call.status = "ringing"
            await self.post_status(call, "ringing", "ringing")
            if await self._ring(call, ring_ms / 2):
                return
            if outcome != "answered":
                await self._finish(call, outcome, answered=False)
                return
            # An outbound call fetches its TwiML once the callee has picked up.
            await self._answer(call)
            await self._detect_machine(call)
            document = call.inline_twiml or (await self._fetch_twiml(call, call.url) if call.url else None)
        else:
            # An inbound call is answered by the TwiML the webhook returns (fetched while still ringing).
            document = await self._fetch_twiml(call, call.url) if call.url else None
            await self._answer(call)
        await self._run_twiml(call, document)
        await self._finish(call, "completed", answered=True)

    async def _answer(self, call: SimulatedCall) -> None:
        call.status = "in-progress"
        call.answered_ms = self.clock_ms(call)
        call.mark(call.answered_ms, "answered")
        await self.post_status(call, "answered", "in-progress")

    def _ringing(self, call: SimulatedCall) -> tuple[str, float]:
        """(outcome, how long it rings): a callee slower than the call's Timeout is a no-answer at Timeout."""
        plan = call.plan
        timeout_ms = (call.timeout_s if call.timeout_s is not None else DEFAULT_TIMEOUT_S) * 1000.0
        if plan.outcome in ("answered", "no-answer") and plan.ring_ms > timeout_ms:
            return "no-answer", timeout_ms
        return plan.outcome, float(plan.ring_ms)

    async def _detect_machine(self, call: SimulatedCall) -> None:
        """Answering-machine detection: synchronous AMD delays the TwiML fetch (which then carries
        AnsweredBy); AsyncAmd posts the verdict to AsyncAmdStatusCallback while the call goes on."""
        if not call.machine_detection:
            return
        verdict, after_ms = amd_verdict(call)
        if call.async_amd_callback:
            task = asyncio.create_task(self._post_amd(call, verdict, after_ms), name=f"amd-{call.sid}")
            self._amd_tasks.add(task)
            task.add_done_callback(self._amd_tasks.discard)
            return
        await asyncio.sleep(after_ms / 1000)
        call.answered_by = verdict

    async def _post_amd(self, call: SimulatedCall, verdict: str, after_ms: float) -> None:
        await asyncio.sleep(after_ms / 1000)
        call.answered_by = verdict
        call.mark(self.clock_ms(call), "amd", verdict)
        assert call.async_amd_callback is not None
        form = self._base_form(call, call.status)
        form.update({"AnsweredBy": verdict, "MachineDetectionDuration": str(int(after_ms))})
        t_ms = self.clock_ms(call)
        try:
            response = await self._signed_post(call.async_amd_callback, form, call)
        except httpx.HTTPError as exc:
            call.amd_callbacks.append(CallbackRecord("amd", form, None, t_ms, f"{type(exc).__name__}: {exc}"))
            return
        call.amd_callbacks.append(CallbackRecord("amd", form, response.status_code, t_ms))

    async def _ring(self, call: SimulatedCall, ring_ms: float) -> bool:
        """Wait ring_ms; True when the call was cancelled meanwhile (REST Status=completed/canceled)."""
        await asyncio.sleep(ring_ms / 1000)
        if call.end_request is None:
            return False
        call.ended_by = call.end_request
        await self._finish(call, "canceled", answered=False)
        return True

    async def _finish(self, call: SimulatedCall, status: str, answered: bool) -> None:
        call.status = status
        call.ended_ms = self.clock_ms(call)
        call.ended_by = call.ended_by or status
        call.mark(call.ended_ms, "call_ended", detail=status)
        duration = math.ceil(call.duration_s) if answered else 0
        await self.post_status(call, "completed", status, duration=duration)

    async def post_status(
        self, call: SimulatedCall, event: str, call_status: str, duration: int | None = None
    ) -> None:
        if not call.status_callback or event not in call.callback_events:
            return
        form = self._base_form(call, call_status)
        form.update(
            {
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(len(call.status_callbacks)),
                "Timestamp": format_datetime(datetime.now(UTC), usegmt=True),
            }
        )
        if duration is not None:
            form["CallDuration"] = str(duration)
        t_ms = self.clock_ms(call)
        try:
            response = await self._signed_post(call.status_callback, form, call)
        except httpx.HTTPError as exc:
            call.status_callbacks.append(
                CallbackRecord(event, form, None, t_ms, f"{type(exc).__name__}: {exc}")
            )
            return
        call.status_callbacks.append(CallbackRecord(event, form, response.status_code, t_ms))

    async def _fetch_twiml(self, call: SimulatedCall, url: str) -> str | None:
        form = self._base_form(call, call.status)
        if call.answered_by and not call.async_amd_callback:
            form["AnsweredBy"] = call.answered_by
        try:
            response = await self._signed_post(url, form, call)
        except httpx.HTTPError as exc:
            call.webhook_errors.append(f"webhook {url}: {type(exc).__name__}: {exc}")
            return None
        if response.status_code != 200:
            call.webhook_errors.append(f"webhook {url} answered {response.status_code}")
            return None
        content_type = response.headers.get("content-type", "")
        if "xml" not in content_type:
            call.webhook_errors.append(f"webhook {url} answered content-type {content_type!r}, not XML")
        return response.text

    async def _run_twiml(self, call: SimulatedCall, document: str | None) -> None:
        redirects = 0
        while document is not None and redirects <= _MAX_REDIRECTS:
            call.twiml_documents.append(document)
            try:
                verbs = read_twiml(document)
            except TwimlError as exc:
                call.webhook_errors.append(str(exc))
                return
            document = await self._run_verbs(call, verbs)
            redirects += 1

    async def _run_verbs(self, call: SimulatedCall, verbs: list[Verb]) -> str | None:
        """Run verbs in order; returns the next TwiML document when the call is redirected."""
        for verb in verbs:
            if call.end_request is not None and call.end_request != "redirected":
                return None
            call.mark(self.clock_ms(call), "twiml_verb", verb.name, text=verb.text)
            if verb.name == "Say":
                call.said.append(verb.text)
            elif verb.name in ("Hangup", "Reject"):
                return None
            elif verb.name == "Dial":
                # The transferred leg is not simulated: the call ends when it would be handed over.
                call.dialed.append(verb.text)
                call.ended_by = "transferred"
                return None
            elif verb.name == "Redirect" and verb.text:
                return await self._fetch_twiml(call, verb.text)
            elif verb.name == "Connect" and verb.stream_url:
                reason = await self._run_stream(call, verb)
                if reason == "redirected":
                    return await self._take_redirect(call)
                if reason not in _CONTINUES_AFTER_STREAM:
                    return None
        if call.end_request == "redirected":
            return await self._take_redirect(call)
        return None

    async def _take_redirect(self, call: SimulatedCall) -> str | None:
        twiml, url = call.redirect_twiml, call.redirect_url
        call.end_request = None
        call.redirect_twiml = call.redirect_url = None
        if twiml is not None:
            return twiml
        return await self._fetch_twiml(call, url) if url else None

    async def _run_stream(self, call: SimulatedCall, verb: Verb) -> str:
        assert verb.stream_url is not None
        call.stream_url = verb.stream_url
        call.custom_parameters = dict(verb.stream_parameters)
        target, headers = self.stream_target(call, verb.stream_url)
        caller = MediaStreamCaller(call, target, headers, lambda: self.clock_ms(call))
        reason = await caller.run()
        call.ended_by = reason
        return reason
