"""Uploads are parsed in a limited child process: bombs and malformed files are clear 4xx errors, a
parse that overruns its CPU or wall-clock budget is killed, and path-like names never leave the name."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sdr_agent.knowledge.extract import DocumentFormat, ExtractionError
from sdr_agent.knowledge.extract_worker import (
    ExtractionLimitError,
    ExtractLimits,
    extract_isolated,
    extract_limited,
)
from sdr_agent.knowledge.ingest import safe_filename
from tests.hardening import hostile_docs

FILE_URL = "/v1/convai/knowledge-base/file"
MB = 1024 * 1024


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (hostile_docs.zip_bomb_docx, ExtractionLimitError),
        (hostile_docs.entity_bomb_docx, ExtractionError),
        (hostile_docs.huge_text_node_docx, ExtractionError),
        (hostile_docs.malformed_xml_docx, ExtractionError),
        (hostile_docs.path_escape_docx, ExtractionError),
    ],
)
def test_hostile_docx_is_refused_with_a_clear_error(make: object, expected: type[Exception]) -> None:
    data = make()  # type: ignore[operator]
    with pytest.raises(expected) as raised:
        extract_limited(data, DocumentFormat.DOCX, max_chars=1_000_000, max_unzipped_bytes=40 * MB)
    assert "lol" not in str(raised.value)  # the entity was never expanded into the message


def test_malformed_pdf_and_output_bound() -> None:
    with pytest.raises(ExtractionError):
        extract_limited(hostile_docs.malformed_pdf(), DocumentFormat.PDF, 1000, MB)
    with pytest.raises(ExtractionLimitError):
        extract_limited(b"word " * 1000, DocumentFormat.TEXT, max_chars=100, max_unzipped_bytes=MB)


async def test_the_child_is_killed_on_cpu_and_time_overruns() -> None:
    burner = hostile_docs.million_paragraphs_docx()
    started = time.monotonic()
    with pytest.raises(ExtractionLimitError):
        await extract_isolated(burner, DocumentFormat.DOCX, ExtractLimits(cpu_s=1, timeout_s=30))
    with pytest.raises(ExtractionLimitError, match=r"over 0\.3 s"):
        await extract_isolated(burner, DocumentFormat.DOCX, ExtractLimits(cpu_s=30, timeout_s=0.3))
    assert time.monotonic() - started < 20  # without the limits this parse runs for minutes
    ok = await extract_isolated(
        b"# Prices\nWidgets cost 5 dollars.", DocumentFormat.MARKDOWN, ExtractLimits()
    )
    assert "Widgets cost 5 dollars." in ok.text


def test_path_like_file_names_keep_only_their_last_segment() -> None:
    assert safe_filename("../../etc/passwd.txt") == "passwd.txt"
    assert safe_filename("..\\..\\windows\\win.ini") == "win.ini"
    assert safe_filename("/abs/dir/\x00evil\r\n.md") == "evil.md"
    assert safe_filename("..") == ""


async def test_hostile_uploads_through_the_api_are_4xx(client: httpx.AsyncClient) -> None:
    services = client._transport.app.state.services  # type: ignore[attr-defined]
    services.settings.security.extract_cpu_s = 1
    for name, data in hostile_docs.hostile_uploads():
        r = await client.post(FILE_URL, files={"file": (name, data, "application/octet-stream")})
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert isinstance(r.json()["detail"], str)
    assert (await client.get("/v1/convai/knowledge-base")).json()["documents"] == []


async def test_uploads_never_block_the_event_loop(client: httpx.AsyncClient) -> None:
    """While a CPU-burning upload is parsed, the same server keeps answering at once."""
    services = client._transport.app.state.services  # type: ignore[attr-defined]
    services.settings.security.extract_cpu_s = 1
    burner = hostile_docs.million_paragraphs_docx()
    upload = asyncio.create_task(
        client.post(FILE_URL, files={"file": ("burner.docx", burner, "application/octet-stream")})
    )
    await asyncio.sleep(0.2)
    worst = 0.0
    for _ in range(5):
        started = time.monotonic()
        assert (await client.get("/healthz")).status_code == 200
        worst = max(worst, time.monotonic() - started)
        await asyncio.sleep(0.05)
    assert not upload.done()  # the parse was still running while /healthz answered
    assert (await upload).status_code == 400
    assert worst < 1.0
