"""The voice session's CallControl port, implemented with the Twilio REST API."""

from __future__ import annotations

from sdr_agent.telephony.twilio.rest import Credentials, TwilioGateway
from sdr_agent.telephony.twilio.twiml import transfer_twiml


class TwilioCallControl:
    def __init__(self, gateway: TwilioGateway, call_sid: str, credentials: Credentials | None = None) -> None:
        self._gateway = gateway
        self._call_sid = call_sid
        # An imported number's own sid/token (read from the database), else the global ones.
        self._credentials = credentials

    async def hangup(self) -> None:
        await self._gateway.hangup(self._call_sid, self._credentials)

    async def transfer(self, phone_number: str) -> None:
        await self._gateway.redirect(self._call_sid, transfer_twiml(phone_number), self._credentials)
