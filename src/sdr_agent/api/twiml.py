"""Twilio webhooks: the voice webhooks answer TwiML (``text/xml``), the status callback answers 204.

Each request must carry a valid ``X-Twilio-Signature`` over ``SDR_PUBLIC_BASE_URL`` + path (+ query) and its
form fields, signed with the global auth token (or, for an imported number of another Twilio account, that
number's token); anything else is refused with 403 before it is looked at.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from sdr_agent.analysis.finalize import record_initiation_failure
from sdr_agent.api.deps import ServicesDep
from sdr_agent.api.rate_limit import client_address, rate_limiter
from sdr_agent.services import Services
from sdr_agent.storage.repos import phone_numbers as numbers_repo
from sdr_agent.telephony.amd import apply_amd_callback
from sdr_agent.telephony.answer import answer_inbound_call, answer_outbound_call
from sdr_agent.telephony.call_status import apply_status_callback
from sdr_agent.telephony.twilio.signature import SIGNATURE_HEADER, FormParams, is_valid_signature, public_url

router = APIRouter(prefix="/twiml", tags=["twilio"])

TWIML_MEDIA_TYPE = "text/xml"


async def _candidate_tokens(services: Services, form: FormParams) -> list[str]:
    tokens = [services.settings.twilio_auth_token.get_secret_value()]
    account_sid = form.first("AccountSid")
    if not account_sid or account_sid == services.settings.twilio_account_sid:
        return tokens
    async with services.db.session() as session:
        for number in (form.first("To"), form.first("From")):
            if not number:
                continue
            record = await numbers_repo.get_phone_number_by_e164(session, number)
            if record is not None and record.twilio_sid == account_sid and record.twilio_token:
                tokens.append(record.twilio_token)
    return tokens


async def signed_twilio_form(request: Request, services: ServicesDep) -> FormParams:
    """The webhook's form fields, once the signature over our public URL has been checked."""
    form = await request.form()
    params = FormParams((key, value) for key, value in form.multi_items() if isinstance(value, str))
    url = public_url(services.settings.public_base_url, request.url.path, request.url.query)
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature:
        for token in await _candidate_tokens(services, params):
            if is_valid_signature(token, url, params, signature):
                return params
    # Forged webhooks count toward the address's failed-attempt throttle (429 once past it).
    await rate_limiter(request).note_failure(client_address(request))
    raise HTTPException(status_code=403, detail="missing or invalid X-Twilio-Signature")


TwilioForm = Annotated[FormParams, Depends(signed_twilio_form)]


def _twiml(body: str) -> Response:
    return Response(content=body, media_type=TWIML_MEDIA_TYPE)


@router.post("/voice_inbound")
async def voice_inbound(form: TwilioForm, services: ServicesDep) -> Response:
    return _twiml(await answer_inbound_call(services, form.as_dict()))


@router.post("/voice_outbound")
async def voice_outbound(
    form: TwilioForm, services: ServicesDep, conversation_id: str | None = None
) -> Response:
    return _twiml(await answer_outbound_call(services, form.as_dict(), conversation_id))


@router.post("/status", status_code=204)
async def call_status(
    form: TwilioForm, services: ServicesDep, conversation_id: str | None = None
) -> Response:
    fields = form.as_dict()
    change = await apply_status_callback(services, fields, conversation_id)
    if change is not None and change.new_status == "failed":
        # The call never reached a conversation: tell webhook subscribers (call_initiation_failure).
        await record_initiation_failure(
            services, change.conversation_id, change.termination_reason or change.call_status, dict(fields)
        )
    return Response(status_code=204)


@router.post("/amd", status_code=204)
async def amd_status(
    form: TwilioForm, services: ServicesDep, conversation_id: str | None = None
) -> Response:
    """AsyncAmdStatusCallback: the answering-machine verdict for an outbound call."""
    await apply_amd_callback(services, form.as_dict(), conversation_id)
    return Response(status_code=204)
