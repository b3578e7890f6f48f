"""The Twilio stand-in's REST side: the Starlette app that answers the ``twilio`` library's Calls requests.

Split out of ``sim.twilio`` so that ``TwilioStandIn`` keeps the test-facing surface (scripts, plans, waiting
for calls) and this module keeps the HTTP handling: Basic auth per account, Calls.json create (with injected
faults), list, fetch, and update (hang up or redirect a live call), each request logged for the tests. It
shares the stand-in's own dicts and lists, so both always see the same calls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sdr_agent.sim.call_record import CallPlan, SimulatedCall
from sdr_agent.sim.twilio_calls import CallRunner, twilio_error
from sdr_agent.sim.twilio_calls_api import calls_page, read_create_form
from sdr_agent.sim.twiml_reader import TwimlError, read_twiml

API_PREFIX = "/2010-04-01/Accounts/{account_sid}"
DEFAULT_OUTBOUND_EVENTS = ("completed",)
_TERMINAL = {"completed", "busy", "failed", "no-answer", "canceled"}


@dataclass(frozen=True, slots=True)
class Fault:
    """An error the next Calls.json create answers instead of placing a call."""

    status: int
    code: int | None
    message: str


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


class CallsRestApi:
    def __init__(
        self,
        *,
        accounts: dict[str, str],
        calls: dict[str, SimulatedCall],
        rest_requests: list[tuple[str, str, dict[str, str], int]],
        faults: list[Fault],
        dials: Counter[str],
        runner: CallRunner,
        plan_for: Callable[[str], CallPlan],
        start_call: Callable[[SimulatedCall], SimulatedCall],
    ) -> None:
        self.accounts = accounts
        self.calls = calls
        self.rest_requests = rest_requests
        self._faults = faults
        self._dials = dials
        self._runner = runner
        self._plan_for = plan_for
        self._start_call = start_call

    def build_app(self) -> Starlette:
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
            sid=new_call_sid(),
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
