"""A Twilio stand-in on 127.0.0.1: the Calls REST API the ``twilio`` library calls, then Twilio's behaviour.

Usage::

    async with TwilioStandIn(account_sid, auth_token, public_base_url, target_base_url) as twilio:
        settings.twilio_api_base = twilio.api_base            # or SDR_TWILIO_API_BASE
        twilio.set_script("+15551234567", CallerScript.of(CallerTurn(audio), HangUp()))
        ...place the call through our outbound API...
        call = await twilio.wait_for_call(call_sid, timeout=30)
        call.timeline, call.turns, call.heard_audio, call.marks_echoed, call.status_callbacks, ...

For every call it: posts signed status callbacks (initiated, ringing, answered, completed + CallDuration,
or no-answer/busy/failed), POSTs the voice webhook ``Url`` with a valid ``X-Twilio-Signature`` over the
*public* URL, runs the returned TwiML (``<Say>``, ``<Dial>``, ``<Hangup>``, ``<Connect><Stream>``), and
plays the Media Stream in real time (``sim.twilio_media``) with the scripted caller (``sim.caller_script``).
Requests to ``public_base_url`` are sent to ``target_base_url`` (or through ``http_transport``, e.g. an
in-process ``httpx.ASGITransport``); ``wss://public-host`` streams go to ``target_ws_base_url``.

REST: ``POST /2010-04-01/Accounts/{sid}/Calls.json`` (Basic auth; wrong → 401/20003; invalid To → 400/21211),
``POST .../Calls/{CallSid}.json`` (``Status=completed`` hangs up; ``Twiml=``/``Url=`` redirects the live call,
which ends its stream like Twilio; unknown sid → 404/20404), ``GET .../Calls/{CallSid}.json``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sdr_agent.sim.call_record import (
    Answerer,
    CallPlan,
    EchoPath,
    MachineEnd,
    Outcome,
    SimulatedCall,
    make_plan,
)
from sdr_agent.sim.caller_script import CallerScript, CallerStep
from sdr_agent.sim.loopback_server import LoopbackServer
from sdr_agent.sim.stream_probe import ProbeResult, probe_stream
from sdr_agent.sim.twilio_calls import CallRunner, twilio_error
from sdr_agent.sim.twilio_calls_api import calls_page, read_create_form
from sdr_agent.sim.twilio_media import new_stream_sid
from sdr_agent.sim.twilio_mix import OutcomeMix
from sdr_agent.sim.twiml_reader import TwimlError, read_twiml

log = logging.getLogger(__name__)

API_PREFIX = "/2010-04-01/Accounts/{account_sid}"
DEFAULT_OUTBOUND_EVENTS = ("completed",)
_TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    code: int | None
    message: str


class TwilioStandIn:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        public_base_url: str,
        target_base_url: str | None = None,
        *,
        target_ws_base_url: str | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.accounts: dict[str, str] = {account_sid: auth_token}
        self.calls: dict[str, SimulatedCall] = {}
        self.rest_requests: list[tuple[str, str, dict[str, str], int]] = []
        self._plans: dict[str | None, CallPlan] = {}
        self._mix: OutcomeMix | None = None
        self._dials: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server = LoopbackServer(self._build_app())
        self._http_transport = http_transport
        self._http: httpx.AsyncClient | None = None
        self._runner = CallRunner(
            self.accounts,
            public_base_url=public_base_url,
            target_base_url=target_base_url,
            target_ws_base_url=target_ws_base_url,
        )

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> TwilioStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._http = httpx.AsyncClient(transport=self._http_transport, timeout=10.0, trust_env=False)
        self._runner.http = self._http
        await self._server.start()

    async def stop(self) -> None:
        for call in self.calls.values():
            if not call.ended.is_set() and call.end_request is None:
                call.end_request = "stand-in-stopped"
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        await self._server.stop()
        if self._http is not None:
            await self._http.aclose()

    @property
    def api_base(self) -> str:
        """Put this in SDR_TWILIO_API_BASE (``client.api.base_url``)."""
        return self._server.url

    # ------------------------------------------------------------------ configuration

    def add_account(self, account_sid: str, auth_token: str) -> None:
        """Another Twilio account (an imported number's own sid/token)."""
        self.accounts[account_sid] = auth_token

    def set_script(
        self,
        to_number: str | None,
        script: CallerScript | Sequence[CallerStep] | None = None,
        *,
        outcome: Outcome = "answered",
        hangup_at_s: float | None = None,
        echo: EchoPath | None = None,
        ring_ms: int = 50,
        max_call_s: float = 300.0,
        parameter_overrides: dict[str, str | None] | None = None,
        answered_by: Answerer = "human",
        greeting_ms: int = 1500,
        machine_end: MachineEnd = "machine_end_beep",
    ) -> CallPlan:
        """How calls to ``to_number`` go (None = any number without its own plan). Kept until replaced.

        ``answered_by="machine"`` is an answering machine: its greeting lasts ``greeting_ms``, then
        detection with DetectMessageEnd reports ``machine_end``.
        """
        plan = make_plan(
            script,
            outcome=outcome,
            hangup_at_s=hangup_at_s,
            echo=echo,
            ring_ms=ring_ms,
            max_call_s=max_call_s,
            parameter_overrides=parameter_overrides,
            answered_by=answered_by,
            greeting_ms=greeting_ms,
            machine_end=machine_end,
        )
        self._plans[to_number] = plan
        return plan

    def set_mix(self, mix: OutcomeMix | None) -> None:
        """Numbers without their own plan get one drawn from ``mix`` (None: back to the default plan)."""
        self._mix = mix

    def dials(self) -> Counter[str]:
        """How many calls were placed to each number (Calls.json creates that Twilio accepted)."""
        return Counter(self._dials)

    def live_calls(self) -> int:
        """Calls holding a line: not yet hung up (final status decided) and, if answered, with their media
        stream still open. What happens after that (the last callbacks) is teardown the server already saw."""
        return sum(1 for call in self.calls.values() if call.ended_ms is None and not call.stream_closed)

    def fail_next_create(
        self, status: int = 500, code: int | None = 20500, message: str = "Internal error"
    ) -> None:
        """The next Calls.json create answers this error instead of placing a call."""
        self._faults.append(_Fault(status, code, message))

    # ------------------------------------------------------------------ calls

    async def start_inbound_call(
        self,
        to: str,
        from_: str,
        *,
        script: CallerScript | Sequence[CallerStep] | None = None,
        plan: CallPlan | None = None,
        account_sid: str | None = None,
        url: str | None = None,
        status_callback: str | None = None,
        callback_events: Sequence[str] = ("completed",),
    ) -> SimulatedCall:
        """A person dials ``to``: POST /twiml/voice_inbound (or ``url``), then run the call like any other."""
        base = self._runner.public_base_url
        call = SimulatedCall(
            sid=_call_sid(),
            account_sid=account_sid or self.account_sid,
            direction="inbound",
            from_=from_,
            to=to,
            url=url or f"{base}/twiml/voice_inbound",
            status_callback=status_callback or f"{base}/twiml/status",
            callback_events=list(callback_events),
            plan=plan or (make_plan(script) if script is not None else self._plan_for(to)),
            created_monotonic=asyncio.get_running_loop().time(),
            status="ringing",
        )
        return self._start_call(call)

    async def wait_for_call(self, call_sid: str, timeout: float = 30.0) -> SimulatedCall:
        """The call once it has ended (raises TimeoutError)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while call_sid not in self.calls:
            if loop.time() >= deadline:
                raise TimeoutError(f"no call {call_sid} was placed")
            await asyncio.sleep(0.01)
        call = self.calls[call_sid]
        await asyncio.wait_for(call.ended.wait(), max(0.0, deadline - loop.time()))
        return call

    async def wait_for_stream(self, call_sid: str, timeout: float = 10.0) -> SimulatedCall:
        """The call once its media stream has started (or the call ended without one)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            call = self.calls.get(call_sid)
            if call is not None and (call.stream_started_ms is not None or call.ended.is_set()):
                return call
            if loop.time() >= deadline:
                raise TimeoutError(f"call {call_sid} has no stream yet")
            await asyncio.sleep(0.01)

    async def replay_stream(
        self, call_sid: str, parameters: dict[str, str] | None = None, wait_s: float = 2.0
    ) -> ProbeResult:
        """Open one more stream for the call with its Parameters (or ``parameters``): a replayed token."""
        call = self.calls[call_sid]
        if call.stream_url is None:
            raise ValueError(f"call {call_sid} never had a stream")
        stream_sid = new_stream_sid()
        start = {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "accountSid": call.account_sid,
                "streamSid": stream_sid,
                "callSid": call.sid,
                "tracks": ["inbound"],
                "customParameters": dict(call.custom_parameters if parameters is None else parameters),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
        target, headers = self._runner.stream_target(call, call.stream_url)
        return await probe_stream(target, headers, start, wait_s)

    def _plan_for(self, to: str) -> CallPlan:
        plan = self._plans.get(to)
        if plan is None and self._mix is not None:
            plan = self._mix.plan_for(to, self._dials[to])
        return plan or self._plans.get(None) or CallPlan()

    def _start_call(self, call: SimulatedCall) -> SimulatedCall:
        self.calls[call.sid] = call
        task = asyncio.create_task(self._runner.run(call), name=f"standin-call-{call.sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call

    # ------------------------------------------------------------------ REST

    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(API_PREFIX + "/Calls.json", self._create_call, methods=["POST"]),
                Route(API_PREFIX + "/Calls.json", self._list_calls, methods=["GET"]),
                Route(API_PREFIX + "/Calls/{call_sid}.json", self._update_call, methods=["POST"]),
                Route(API_PREFIX + "/Calls/{call_sid}.json", self._fetch_call, methods=["GET"]),
            ]
        )

    def _authenticate(self, request: Request) -> Response | None:
        account_sid = request.path_params["account_sid"]
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        token = self.accounts.get(account_sid)
        if (
            scheme.lower() != "basic"
            or user != account_sid
            or token is None
            or not secrets.compare_digest(password.encode(), token.encode())
        ):
            return twilio_error(401, 20003, "Authenticate")
        return None

    async def _form(self, request: Request) -> dict[str, list[str]]:
        form = await request.form()
        values: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                values.setdefault(key, []).append(value)
        return values

    def _log(self, request: Request, form: dict[str, list[str]], status: int) -> None:
        flat = {key: ",".join(values) for key, values in form.items()}
        self.rest_requests.append((request.method, request.url.path, flat, status))

    async def _create_call(self, request: Request) -> Response:
        form = await self._form(request)
        response = self._authenticate(request) or self._create_from(request.path_params["account_sid"], form)
        self._log(request, form, response.status_code)
        return response

    def _create_from(self, account_sid: str, form: dict[str, list[str]]) -> Response:
        if self._faults:
            fault = self._faults.pop(0)
            return twilio_error(fault.status, fault.code, fault.message)
        checked = read_create_form(form)
        if isinstance(checked, Response):
            return checked
        to = checked.to
        call = SimulatedCall(
            sid=_call_sid(),
            account_sid=account_sid,
            direction="outbound-api",
            from_=checked.from_,
            to=to,
            url=checked.url,
            status_callback=checked.status_callback,
            callback_events=checked.events or list(DEFAULT_OUTBOUND_EVENTS),
            plan=self._plan_for(to),
            created_monotonic=asyncio.get_running_loop().time(),
            inline_twiml=checked.twiml,
            timeout_s=checked.timeout_s,
            machine_detection=checked.machine_detection,
            async_amd_callback=checked.amd_callback,
        )
        self._dials[to] += 1
        self._start_call(call)
        return JSONResponse(self._runner.resource(call), status_code=201)

    def _call_or_404(self, request: Request) -> SimulatedCall | Response:
        call = self.calls.get(request.path_params["call_sid"])
        if call is None or call.account_sid != request.path_params["account_sid"]:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return call

    async def _list_calls(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        return calls_page(
            self.calls.values(),
            request.path_params["account_sid"],
            request.query_params,
            request.url.path,
            self._runner.resource,
        )

    async def _fetch_call(self, request: Request) -> Response:
        found = self._authenticate(request) or self._call_or_404(request)
        if isinstance(found, Response):
            return found
        return JSONResponse(self._runner.resource(found))

    async def _update_call(self, request: Request) -> Response:
        form = await self._form(request)
        found = self._authenticate(request) or self._call_or_404(request)
        if isinstance(found, Response):
            self._log(request, form, found.status_code)
            return found
        call = found
        first = {key: values[0] for key, values in form.items()}
        call.rest_updates.append(first)
        response = self._apply_update(call, first)
        self._log(request, form, response.status_code)
        return response

    def _apply_update(self, call: SimulatedCall, form: dict[str, str]) -> Response:
        status, twiml, url = form.get("Status"), form.get("Twiml"), form.get("Url")
        if twiml and url:
            return twilio_error(400, 21220, "Url and Twiml are mutually exclusive.")
        finished = call.ended.is_set() or call.status in _TERMINAL
        if status in ("completed", "canceled"):
            if not finished and call.end_request is None:
                call.end_request = "agent-hangup"
                call.mark(self._runner.clock_ms(call), "rest_hangup", detail=status)
            return JSONResponse(self._runner.resource(call))
        if status:
            return twilio_error(400, 21218, f"Invalid value {status!r} for Status.")
        if not twiml and not url:
            return JSONResponse(self._runner.resource(call))
        if finished or call.status != "in-progress":
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if twiml:
            try:
                read_twiml(twiml)
            except TwimlError as exc:
                return twilio_error(400, 12100, str(exc))
            call.redirect_twiml = twiml
        else:
            call.redirect_url = url
        if call.end_request is None:
            call.end_request = "redirected"
            call.mark(self._runner.clock_ms(call), "rest_redirect", detail=twiml or url)
        return JSONResponse(self._runner.resource(call))


def _call_sid() -> str:
    return "CA" + secrets.token_hex(16)
