"""Signatures the official SDK accepts; tampered bodies, old timestamps and wrong secrets fail."""

from __future__ import annotations

import time

import pytest
from elevenlabs import ElevenLabs
from elevenlabs.errors import BadRequestError

from sdr_agent.webhooks.events import envelope
from sdr_agent.webhooks.signing import SignatureError, sign, verify

SECRET = "wsec_test_secret"


def _body() -> bytes:
    data = {
        "conversation_id": "conv_1",
        "analysis": {"transcript_summary": "Caf\u00e9 demo booked \u2014 Tuesday."},
    }
    return envelope("post_call_transcription", data, timestamp=1_700_000_000).encode()


def test_the_sdk_accepts_our_signature() -> None:
    body = _body()
    header = sign(body, SECRET)
    event = ElevenLabs(api_key="x").webhooks.construct_event(body.decode(), header, SECRET)
    assert event["type"] == "post_call_transcription"
    assert event["data"]["analysis"]["transcript_summary"].startswith("Caf\u00e9")


def test_the_sdk_rejects_a_tampered_body() -> None:
    body = _body()
    header = sign(body, SECRET)
    tampered = body.replace(b"conv_1", b"conv_2")
    with pytest.raises(BadRequestError):
        ElevenLabs(api_key="x").webhooks.construct_event(tampered.decode(), header, SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        verify(tampered, header, SECRET)


def test_the_sdk_rejects_an_old_timestamp() -> None:
    body = _body()
    header = sign(body, SECRET, timestamp=int(time.time()) - 31 * 60)
    with pytest.raises(BadRequestError):
        ElevenLabs(api_key="x").webhooks.construct_event(body.decode(), header, SECRET)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(body, header, SECRET)


def test_a_wrong_secret_or_a_malformed_header_fails() -> None:
    body = _body()
    with pytest.raises(BadRequestError):
        ElevenLabs(api_key="x").webhooks.construct_event(body.decode(), sign(body, "other"), SECRET)
    for header in ("", "t=abc,v0=00", "v0=deadbeef", f"t={int(time.time())}"):
        with pytest.raises(SignatureError):
            verify(body, header, SECRET)
    with pytest.raises(SignatureError):
        sign(body, "")


def test_header_shape_and_body_is_ascii() -> None:
    body = _body()
    header = sign(body, SECRET, timestamp=1_700_000_123)
    t, v0 = header.split(",")
    assert t == "t=1700000123" and v0.startswith("v0=") and len(v0) == 3 + 64
    body.decode("ascii")  # non-ASCII text is escaped, so str and bytes sign identically
    verify(body, header, SECRET, now=1_700_000_200)
