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
The REST handlers live in ``sim.twilio_rest``; this class keeps scripts, plans and waiting for calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

import httpx

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
from sdr_agent.sim.twilio_calls import CallRunner
from sdr_agent.sim.twilio_media import new_stream_sid
from sdr_agent.sim.twilio_mix import OutcomeMix
from sdr_agent.sim.twilio_rest import API_PREFIX, DEFAULT_OUTBOUND_EVENTS, CallsRestApi, Fault, new_call_sid

log = logging.getLogger(__name__)

__all__ = ["API_PREFIX", "DEFAULT_OUTBOUND_EVENTS", "TwilioStandIn"]


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
        self._faults: list[Fault] = []
        self._runner = CallRunner(
            self.accounts,
            public_base_url=public_base_url,
            target_base_url=target_base_url,
            target_ws_base_url=target_ws_base_url,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._rest = CallsRestApi(
            accounts=self.accounts, calls=self.calls, rest_requests=self.rest_requests, faults=self._faults,
            dials=self._dials, runner=self._runner, plan_for=self._plan_for, start_call=self._start_call,
        )
        self._server = LoopbackServer(self._rest.build_app())
        self._http_transport = http_transport
        self._http: httpx.AsyncClient | None = None

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
        self._faults.append(Fault(status, code, message))

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
            sid=new_call_sid(),
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
