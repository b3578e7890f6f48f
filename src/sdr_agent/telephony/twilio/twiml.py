"""TwiML documents we hand to Twilio, built with the library's own ``VoiceResponse`` (it escapes for us)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

# Twilio rejects Stream parameters whose name+value reach 500 characters.
_MAX_PARAMETER_CHARS = 500


def stream_twiml(ws_url: str, parameters: dict[str, str]) -> str:
    """``<Connect><Stream url=...>`` with one ``<Parameter>`` per item (bidirectional media stream)."""
    if not ws_url.startswith(("wss://", "ws://")):
        raise ValueError(f"stream url must be a WebSocket URL, got {ws_url!r}")
    if "?" in ws_url:
        # Query strings on Stream URLs break Twilio's handshake (error 31920); data goes in <Parameter>s.
        raise ValueError("stream url must not carry a query string")
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=ws_url)
    for name, value in parameters.items():
        if len(name) + len(value) >= _MAX_PARAMETER_CHARS:
            raise ValueError(f"stream parameter {name!r} is too long for Twilio")
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def transfer_twiml(phone_number: str, say: str | None = None) -> str:
    """Optionally say a handoff line, then ``<Dial>`` the number (the live call is redirected to this)."""
    if not phone_number.strip():
        raise ValueError("transfer needs a phone number")
    response = VoiceResponse()
    if say:
        response.say(say)
    response.dial(phone_number.strip())
    return str(response)


def say_hangup_twiml(text: str) -> str:
    response = VoiceResponse()
    if text:
        response.say(text)
    response.hangup()
    return str(response)


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
