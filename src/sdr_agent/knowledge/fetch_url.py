"""Fetch a web page (or a document at a URL) for the knowledge base: http(s) only, timeout, size cap."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from sdr_agent.knowledge.extract import (
    DocumentFormat,
    ExtractedText,
    UnsupportedFormatError,
    detect_format,
    extract_text,
    format_for_content_type,
)

_MAX_REDIRECTS = 5
_USER_AGENT = "sdr-agent-knowledge-fetcher/0.1"


class FetchError(ValueError):
    """The URL could not be fetched (bad scheme, network error, HTTP error, too large)."""


class FetchTooLargeError(FetchError):
    pass


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    url: str  # after redirects
    data: bytes
    content_type: str


def validate_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise FetchError("only http:// and https:// URLs can be fetched")
    if not parts.hostname:
        raise FetchError("the URL has no host")
    return url.strip()


async def fetch_url(
    url: str,
    *,
    timeout_s: float,
    max_bytes: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedDocument:
    """GET the URL, following a few redirects (each re-checked for scheme). Raises FetchError."""
    current = validate_url(url)
    timeout = httpx.Timeout(timeout_s)
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/html, text/plain, application/pdf, */*"}
    try:
        async with httpx.AsyncClient(timeout=timeout, headers=headers, transport=transport) as client:
            for _ in range(_MAX_REDIRECTS + 1):
                async with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = validate_url(str(response.url.join(response.headers["location"])))
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"fetching the URL returned HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise FetchTooLargeError(f"the document at the URL exceeds {max_bytes} bytes")
                    body = bytearray()
                    async for piece in response.aiter_bytes():
                        body.extend(piece)
                        if len(body) > max_bytes:
                            raise FetchTooLargeError(f"the document at the URL exceeds {max_bytes} bytes")
                    return FetchedDocument(current, bytes(body), response.headers.get("content-type", ""))
            raise FetchError(f"more than {_MAX_REDIRECTS} redirects")
    except httpx.TimeoutException as exc:
        raise FetchError(f"fetching the URL timed out after {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch the URL: {exc.__class__.__name__}: {exc}") from exc


def fetched_format(document: FetchedDocument) -> DocumentFormat:
    """By the response's media type, else by the path's extension; untyped pages are taken as HTML."""
    by_type = format_for_content_type(document.content_type)
    if by_type is not None:
        return by_type
    media = document.content_type.split(";", 1)[0].strip().lower()
    last_segment = urlsplit(document.url).path.rsplit("/", 1)[-1]
    if "." in last_segment:
        try:
            return detect_format(last_segment, None)
        except UnsupportedFormatError:
            pass
    if media in ("", "application/octet-stream"):
        return DocumentFormat.HTML
    raise UnsupportedFormatError(f"the URL serves unsupported content ({media})")


def extract_fetched(document: FetchedDocument) -> ExtractedText:
    return extract_text(document.data, fetched_format(document))
