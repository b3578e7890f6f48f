"""``sdr-agent call AGENT_ID +15551234567 --var name=John``: place a real call through a running server.

It posts to the server's outbound API (``/v1/convai/outbound``, or ElevenLabs'
``/v1/convai/twilio/outbound-call`` when ``--phone-number-id`` picks the calling number) with the first key of
``SDR_API_KEYS``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import httpx
import typer
from rich.console import Console

from sdr_agent.settings import Settings, get_settings
from sdr_agent.telephony.outbound import is_e164

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def parse_variables(pairs: list[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected name=value, got {pair!r}", param_hint="--var")
        variables[name.strip()] = value
    return variables


def _api_key(explicit: str | None, settings: Settings) -> str:
    if explicit:
        return explicit
    if settings.api_keys:
        return settings.api_keys[0].get_secret_value()
    raise typer.BadParameter("no API key: pass --api-key or set SDR_API_KEYS", param_hint="--api-key")


def _public_url_warning(settings: Settings) -> str | None:
    """Real Twilio must reach the server's webhooks: a loopback or plain-http public URL cannot work."""
    if settings.twilio_api_base:
        return None
    parsed = urlparse(settings.public_base_url)
    if parsed.hostname in _LOOPBACK_HOSTS or parsed.scheme != "https":
        return (
            f"SDR_PUBLIC_BASE_URL is {settings.public_base_url!r}: Twilio cannot reach it. Expose the server "
            "(ngrok / cloudflared) and set SDR_PUBLIC_BASE_URL to the public https URL on the server."
        )
    return None


def call(
    agent_id: str = typer.Argument(..., help="agent that makes the call"),
    to_number: str = typer.Argument(..., help="number to call, E.164 (e.g. +15551234567)"),
    var: list[str] = typer.Option([], "--var", help="dynamic variable name=value (repeatable)"),
    server: str = typer.Option(
        "http://127.0.0.1:8000", "--server", envvar="SDR_SERVER_URL", help="running server"
    ),
    api_key: str | None = typer.Option(None, "--api-key", help="defaults to the first key of SDR_API_KEYS"),
    phone_number_id: str | None = typer.Option(
        None, "--phone-number-id", help="imported number to call from"
    ),
    timeout: float = typer.Option(30.0, min=1.0, help="seconds to wait for the server"),
) -> None:
    """Place an outbound call (the server must be running with Twilio credentials)."""
    console = Console(stderr=True)
    if not is_e164(to_number):
        raise typer.BadParameter(
            f"{to_number!r} is not an E.164 number, e.g. +15551234567", param_hint="TO_NUMBER"
        )
    variables = parse_variables(var)
    settings = get_settings()
    key = _api_key(api_key, settings)
    warning = _public_url_warning(settings)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")
    path, body = _request(agent_id, to_number, variables, phone_number_id)
    url = server.rstrip("/") + path
    try:
        response = httpx.post(url, json=body, headers={"xi-api-key": key}, timeout=timeout)
    except httpx.HTTPError as exc:
        console.print(
            f"[bold red]error:[/] could not reach {server} ({type(exc).__name__}); is `sdr-agent serve` up?"
        )
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        console.print(f"[bold red]error {response.status_code}:[/] {_detail(response)}")
        raise typer.Exit(1)
    result = response.json()
    call_sid = result.get("call_sid") or result.get("callSid")
    typer.echo(f"call {call_sid} placed to {to_number} (conversation {result.get('conversation_id')})")


def _request(
    agent_id: str, to_number: str, variables: dict[str, str], phone_number_id: str | None
) -> tuple[str, dict[str, Any]]:
    if phone_number_id:
        return "/v1/convai/twilio/outbound-call", {
            "agent_id": agent_id,
            "agent_phone_number_id": phone_number_id,
            "to_number": to_number,
            "conversation_initiation_client_data": {"dynamic_variables": variables},
        }
    return "/v1/convai/outbound", {
        "agent_id": agent_id,
        "to_number": to_number,
        "dynamic_variables": variables,
    }


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:500]
    return str(detail)
