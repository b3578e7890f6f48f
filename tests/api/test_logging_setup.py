from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from sdr_agent.logs import Scrubber, bind_call, build_handler, current_call, mask_phone
from sdr_agent.settings import Settings


@pytest.fixture
def captured(settings: Settings) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    settings = settings.model_copy(
        update={"log_json": True, "webhook_secret": SecretStr("whsec_abcdef123456")}
    )
    stream = io.StringIO()
    handler = build_handler(settings, stream)
    logger = logging.getLogger("sdr_agent.test_logging")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_mask_phone_keeps_only_last_four_digits() -> None:
    assert mask_phone("+15551234567") == "+*******4567"
    assert mask_phone("555-0100") == "***-0100"
    assert mask_phone("12") == "12"
    assert mask_phone(None) == ""


def test_json_lines_scrub_keys_tokens_and_numbers(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("calling %s from %s", "+15551234567", "+15550000000")
    logger.info("configured key %s and token %s", "test-key", "test-auth-token")
    logger.warning("headers: xi-api-key: abc123secret, Authorization: Bearer eyJhbGciOi.x.y")
    logger.info("webhook secret whsec_abcdef123456 in body From=%2B15557654321&To=x")
    try:
        raise ValueError("token=sk-live-999 for +15551112222")
    except ValueError:
        logger.exception("boom")
    text = stream.getvalue()
    for leaked in (
        "15551234567",
        "15550000000",
        "test-key",
        "test-auth-token",
        "abc123secret",
        "eyJhbGciOi",
        "whsec_abcdef123456",
        "15557654321",
        "sk-live-999",
        "15551112222",
    ):
        assert leaked not in text, leaked
    lines = _lines(stream)
    assert lines[0]["msg"] == "calling +*******4567 from +*******0000"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "sdr_agent.test_logging"
    assert "%2B*******4321" in str(lines[3]["msg"])
    assert "ValueError" in str(lines[4]["exc"])


def test_bind_call_tags_lines_and_nests(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    with bind_call(call_sid="CA1", conversation_id="conv_1"):
        logger.info("outer")
        with bind_call(conversation_id="conv_2"):
            logger.info("inner")
            assert current_call() == ("CA1", "conv_2")
        logger.info("outer again")
    logger.info("unbound")
    lines = _lines(stream)
    assert [(x.get("call_sid"), x.get("conversation_id")) for x in lines] == [
        ("CA1", "conv_1"),
        ("CA1", "conv_2"),
        ("CA1", "conv_1"),
        (None, None),
    ]


async def test_bindings_stay_with_their_task(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    async def call(sid: str) -> None:
        with bind_call(call_sid=sid):
            await asyncio.sleep(0)
            logger.info("in %s", sid)

    await asyncio.gather(call("CA_A"), call("CA_B"))
    assert sorted((x["msg"], x["call_sid"]) for x in _lines(stream)) == [
        ("in CA_A", "CA_A"),
        ("in CA_B", "CA_B"),
    ]


def test_scrubber_leaves_ordinary_text_alone() -> None:
    scrubber = Scrubber(["secret-value"])
    text = "turn 3 took 412 ms; call_token_ttl_s=60; 2026-01-01 12:00:00"
    assert scrubber.scrub(text) == text
    assert scrubber.scrub("x secret-value y") == "x *** y"
