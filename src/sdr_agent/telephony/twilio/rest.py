"""The Twilio REST API through the real ``twilio`` library (create, hang up, redirect calls).

The library is blocking (``requests``), so every call runs in ``asyncio.to_thread``. ``SDR_TWILIO_API_BASE``
moves the library's ``api`` domain (``client.api.base_url``) to a stand-in, the hook the library reads on
every request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar
from urllib.parse import urlparse

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sdr_agent.services import Services

log = logging.getLogger(__name__)

CALL_NOT_FOUND = 20404
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]
DEFAULT_TIMEOUT_S = 15.0

T = TypeVar("T")


class TwilioError(Exception):
    """A failed Twilio REST request: ``status`` is Twilio's HTTP status (502 when Twilio was unreachable)."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio error {status}" + (f" ({code})" if code else "") + f": {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def is_client_error(self) -> bool:
        return 400 <= self.status < 500


Credentials = tuple[str, str]


class TwilioGateway:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_base: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._default: Credentials = (account_sid, auth_token)
        self._api_base = api_base.rstrip("/") if api_base else None
        self._timeout_s = timeout_s
        self._clients: dict[Credentials, Client] = {}
        self._lock = threading.Lock()

    @property
    def api_base(self) -> str | None:
        return self._api_base

    async def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        account_sid: str | None = None,
        auth_token: str | None = None,
        machine_detection: str | None = None,
        amd_callback: str | None = None,
        timeout_s: int | None = None,
    ) -> str:
        """Place a call whose TwiML comes from ``url``; returns the call sid.

        ``machine_detection`` is Twilio's MachineDetection (Enable | DetectMessageEnd); with ``amd_callback``
        it runs asynchronously (AsyncAmd) and the verdict is POSTed there. ``timeout_s`` is the ring time.
        """
        credentials = self._credentials(account_sid, auth_token)
        client = self._client(credentials)
        extra: dict[str, object] = {}
        if machine_detection:
            extra["machine_detection"] = machine_detection
            if amd_callback:
                extra.update(
                    async_amd="true",
                    async_amd_status_callback=amd_callback,
                    async_amd_status_callback_method="POST",
                )
        if timeout_s is not None:
            extra["timeout"] = timeout_s

        def create() -> str | None:
            call = client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=STATUS_CALLBACK_EVENTS,
                **extra,
            )
            sid: str | None = call.sid
            return sid

        sid = await self._run(create)
        if not sid:
            raise TwilioError(502, None, "Twilio accepted the call but returned no call sid")
        return sid

    async def hangup(self, call_sid: str, credentials: Credentials | None = None) -> None:
        """Complete the call (with the number's own credentials if it has them); a call already gone is fine.

        Credentials come from the caller (read from the database), never from this process's memory: the call
        may have been placed or answered by another replica.
        """
        client = self._client(credentials or self._credentials(None, None))
        try:
            await self._run(lambda: client.calls(call_sid).update(status="completed"))
        except TwilioError as exc:
            if exc.code == CALL_NOT_FOUND or exc.status == 404:
                log.info("hang-up of %s: call already gone", call_sid)
                return
            raise

    async def find_calls(
        self, to: str, from_: str, since: date, credentials: Credentials | None = None
    ) -> list[tuple[str, str, datetime | None]]:
        """(sid, status, date_created) of calls to ``to`` from ``from_`` started on or after ``since`` (UTC
        date: Twilio's list filter has day granularity), newest first."""
        client = self._client(credentials or self._credentials(None, None))
        calls = await self._run(
            lambda: client.calls.list(to=to, from_=from_, start_time_after=since, limit=50)
        )
        return [(str(c.sid), str(c.status or ""), c.date_created) for c in calls]

    async def fetch_status(
        self, call_sid: str, credentials: Credentials | None = None
    ) -> tuple[str, str | None]:
        """(CallStatus, AnsweredBy) as Twilio knows them now: reconciles calls whose callbacks were lost."""
        client = self._client(credentials or self._credentials(None, None))
        call = await self._run(lambda: client.calls(call_sid).fetch())
        return str(call.status or ""), (str(call.answered_by) if call.answered_by else None)

    async def redirect(self, call_sid: str, twiml: str, credentials: Credentials | None = None) -> None:
        """Replace the live call's TwiML (Twilio closes the media stream and runs this instead)."""
        client = self._client(credentials or self._credentials(None, None))
        await self._run(lambda: client.calls(call_sid).update(twiml=twiml))

    def _credentials(self, account_sid: str | None, auth_token: str | None) -> Credentials:
        if account_sid and auth_token:
            if not (account_sid + auth_token).isascii():
                # Stored before the API checked them: the Basic auth header could not carry them (a crash).
                raise TwilioError(400, None, "the phone number's Twilio sid or token is not valid ASCII")
            return (account_sid, auth_token)
        sid, token = self._default
        if not sid or not token:
            raise TwilioError(
                400,
                None,
                "Twilio credentials are not configured (set SDR_TWILIO_ACCOUNT_SID and "
                "SDR_TWILIO_AUTH_TOKEN, or import the number with its own sid and token)",
            )
        return (sid, token)

    def _client(self, credentials: Credentials) -> Client:
        with self._lock:
            client = self._clients.get(credentials)
            if client is None:
                client = self._new_client(credentials)
                self._clients[credentials] = client
            return client

    def _new_client(self, credentials: Credentials) -> Client:
        http_client = TwilioHttpClient(timeout=self._timeout_s)
        client = Client(credentials[0], credentials[1], http_client=http_client)
        if self._api_base:
            client.api.base_url = self._api_base
            # Edge/region rewriting would mangle a non-Twilio host (127.0.0.1 → 127.ie1.0.1).
            client.edge = None
            client.region = None
            if _is_loopback(self._api_base) and http_client.session is not None:
                # An HTTP(S)_PROXY in the environment must not capture calls to a local stand-in.
                http_client.session.trust_env = False
        return client

    async def _run(self, request: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(request)
        except TwilioRestException as exc:
            raise TwilioError(
                int(exc.status), _int_or_none(exc.code), str(exc.msg or "Twilio request failed")
            ) from exc
        except requests.RequestException as exc:
            raise TwilioError(502, None, f"could not reach Twilio: {type(exc).__name__}") from exc


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


def twilio_gateway(services: Services) -> TwilioGateway:
    """The process-wide gateway with the global credentials, created on first use."""
    gateway = services.twilio
    if gateway is None:
        settings = services.settings
        gateway = TwilioGateway(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            api_base=settings.twilio_api_base or None,
        )
        services.twilio = gateway
    return gateway
