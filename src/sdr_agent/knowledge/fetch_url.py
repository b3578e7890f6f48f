"""Fetch a web page (or a document at a URL) for the knowledge base.

http(s) only; every hop (the URL and each redirect) must pass the address policy of ``security.urls``,
checked on the addresses the name resolves to and connected to exactly those (no rebinding); one deadline
for the whole fetch (a server that drips bytes cannot hold it open); a size cap; and only document media
types are read at all.
"""

from __future__ import annotations

import asyncio
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
from sdr_agent.security.urls import (
    BlockedUrlError,
    GuardedTransport,
    Resolver,
    UrlPolicy,
    blocked_reason,
    check_url,
)

_MAX_REDIRECTS = 5
_USER_AGENT = "sdr-agent-knowledge-fetcher/0.1"


class FetchError(ValueError):
    """The URL could not be fetched (bad scheme, network error, HTTP error, too large)."""


class FetchTooLargeError(FetchError):
    pass


class FetchBlockedError(FetchError):
    """The URL (or a redirect) points at an address the policy refuses; nothing was fetched."""


class FetchUnsupportedTypeError(FetchError):
    """The server answered with a media type that is not a document (image, video, archive...)."""


# Media types worth reading; anything else is refused before its body is read.
_READABLE_TYPES = frozenset({
    "text/html", "application/xhtml+xml", "text/plain", "text/markdown", "text/x-markdown",
    "application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/octet-stream", "",
})


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    url: str  # after redirects
    data: bytes
    content_type: str


def validate_url(url: str, policy: UrlPolicy | None = None) -> str:
    """Scheme, host and (without DNS) the literal address. Raises FetchError / FetchBlockedError."""
    try:
        check_url(url, policy or UrlPolicy())
    except BlockedUrlError as exc:  # file://, gopher://, a private literal address: all SSRF attempts
        raise FetchBlockedError(str(exc)) from exc
    return url.strip()


async def fetch_url(
    url: str,
    *,
    timeout_s: float,
    max_bytes: int,
    policy: UrlPolicy | None = None,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedDocument:
    """GET the URL, following a few redirects (each re-checked). Raises FetchError.

    ``transport`` replaces the guarded one only in tests that talk to an in-process app."""
    policy = policy or UrlPolicy()
    current = validate_url(url, policy)
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/html, text/plain, application/pdf, */*"}
    guarded = transport or GuardedTransport(policy, resolver)
    try:
        async with (
            asyncio.timeout(timeout_s),
            httpx.AsyncClient(
                timeout=httpx.Timeout(timeout_s), headers=headers, transport=guarded, trust_env=False
            ) as client,
        ):
            for _ in range(_MAX_REDIRECTS + 1):
                async with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = validate_url(str(response.url.join(response.headers["location"])), policy)
                        continue
                    return await _read_body(response, current, max_bytes)
            raise FetchError(f"more than {_MAX_REDIRECTS} redirects")
    except TimeoutError as exc:
        raise FetchError(f"fetching the URL timed out after {timeout_s:g} s") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"fetching the URL timed out after {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        reason = blocked_reason(exc)
        if reason is not None:
            raise FetchBlockedError(reason) from exc
        raise FetchError(f"could not fetch the URL: {exc.__class__.__name__}") from exc


async def _read_body(response: httpx.Response, url: str, max_bytes: int) -> FetchedDocument:
    if response.status_code >= 400:
        raise FetchError(f"fetching the URL returned HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in _READABLE_TYPES:
        raise FetchUnsupportedTypeError(f"the URL serves unsupported content ({media})")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLargeError(f"the document at the URL exceeds {max_bytes} bytes")
    body = bytearray()
    async for piece in response.aiter_bytes():
        body.extend(piece)
        if len(body) > max_bytes:
            raise FetchTooLargeError(f"the document at the URL exceeds {max_bytes} bytes")
    return FetchedDocument(url, bytes(body), content_type)


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
    """In-process extraction (the CLI and tests); the API uses the limited worker process instead."""
    return extract_text(document.data, fetched_format(document))
