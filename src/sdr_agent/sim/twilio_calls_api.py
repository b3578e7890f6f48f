"""The stand-in's Calls.json: reading a create request's form, and the Calls list as the twilio library
pages through it.

List filters: ``To``, ``From`` and ``StartTime>`` (a UTC date: Twilio's list filters have day granularity).
The dialer uses it to find a call Twilio placed for an attempt whose process died before it heard the sid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

from sdr_agent.sim.call_record import SimulatedCall
from sdr_agent.sim.twilio_calls import twilio_error
from sdr_agent.sim.twiml_reader import TwimlError, read_twiml
from sdr_agent.telephony.outbound import is_e164


@dataclass(frozen=True, slots=True)
class CreateForm:
    to: str
    from_: str
    url: str | None
    twiml: str | None
    status_callback: str | None
    events: list[str] = field(default_factory=list)
    timeout_s: int | None = None
    machine_detection: str | None = None
    amd_callback: str | None = None


def read_create_form(form: Mapping[str, list[str]]) -> CreateForm | Response:
    """The parameters of a Calls.json create, or the error Twilio answers for them."""
    first = {key: values[0] for key, values in form.items()}
    to, from_ = first.get("To", ""), first.get("From", "")
    if not is_e164(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not is_e164(from_):
        return twilio_error(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
    if not first.get("Url") and not first.get("Twiml"):
        return twilio_error(400, 21205, "Url parameter is required.")
    if first.get("Twiml"):
        try:
            read_twiml(first["Twiml"])
        except TwimlError as exc:
            return twilio_error(400, 12100, str(exc))
    timeout = first.get("Timeout")
    if timeout is not None and (not timeout.isdigit() or not 1 <= int(timeout) <= 600):
        return twilio_error(400, 21216, f"Timeout {timeout!r} must be 1-600 seconds.")
    machine_detection = first.get("MachineDetection")
    if machine_detection is not None and machine_detection not in ("Enable", "DetectMessageEnd"):
        return twilio_error(400, 21216, f"MachineDetection {machine_detection!r} is not supported.")
    async_amd = (first.get("AsyncAmd") or "").lower() == "true"
    return CreateForm(
        to=to,
        from_=from_,
        url=first.get("Url") or None,
        twiml=None if first.get("Url") else first.get("Twiml"),
        status_callback=first.get("StatusCallback") or None,
        events=[event for value in form.get("StatusCallbackEvent", []) for event in value.split()],
        timeout_s=int(timeout) if timeout is not None else None,
        machine_detection=machine_detection,
        amd_callback=(first.get("AsyncAmdStatusCallback") or None) if async_amd else None,
    )


def calls_page(
    calls: Iterable[SimulatedCall],
    account_sid: str,
    query: Mapping[str, str],
    path: str,
    resource: Callable[[SimulatedCall], dict[str, Any]],
) -> JSONResponse:
    since = (query.get("StartTime>") or "")[:10]
    found = [
        call
        for call in calls
        if call.account_sid == account_sid
        and query.get("To", call.to) == call.to
        and query.get("From", call.from_) == call.from_
        and (not since or call.created_at.strftime("%Y-%m-%d") >= since)
    ]
    found.sort(key=lambda c: c.created_at, reverse=True)
    return JSONResponse(
        {
            "calls": [resource(call) for call in found],
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": len(found),
            "start": 0,
            "end": max(0, len(found) - 1),
            "uri": path,
        }
    )
