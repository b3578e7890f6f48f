"""SSRF: the knowledge-base fetcher, webhooks and tools refuse private, loopback, link-local and metadata
addresses: at input (literal addresses, any spelling), after DNS (a stub resolver) and on every redirect.
Every test runs under a connect guard that fails on any connection or DNS query beyond loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from sdr_agent.knowledge.fetch_url import FetchBlockedError, fetch_url
from sdr_agent.security.urls import (
    BlockedUrlError,
    GuardedTransport,
    UrlPolicy,
    allowed_addresses,
    check_url,
)
from sdr_agent.settings import Settings
from tests.hardening.netguard import net_guard

KB_URL = "/v1/convai/knowledge-base/url"
BLOCKED_LITERALS = [
    "http://127.0.0.1/", "http://[::1]/", "http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/",
    "http://0177.0.0.1/", "http://0.0.0.0/", "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/", "http://100.100.100.200/", "http://[fd00:ec2::254]/",
    "http://224.0.0.1/", "http://metadata.google.internal/", "http://localhost:8000/", "http://foo.localhost/",
]


class _Site(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []
    redirect_to: ClassVar[str] = ""

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
            self.end_headers()
            return
        body = b"<h1>Secret</h1><p>internal only</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def site() -> Iterator[int]:
    _Site.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.security.url_allowlist = []  # production's default: nothing private is reachable
    return settings


@pytest.mark.parametrize("url", BLOCKED_LITERALS)
def test_literal_internal_addresses_are_refused_without_dns(url: str) -> None:
    with pytest.raises(BlockedUrlError):
        check_url(url, UrlPolicy())


async def test_kb_url_refuses_every_internal_spelling(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, site: int
) -> None:
    with net_guard(monkeypatch) as guard:
        for url in [*BLOCKED_LITERALS, f"http://127.0.0.1:{site}/", "file:///etc/passwd", "gopher://x/"]:
            r = await client.post(KB_URL, json={"url": url})
            assert r.status_code == 422, (url, r.text)
            assert r.json()["detail"][0]["loc"] == ["body", "url"]
    assert _Site.hits == [] and guard.refused == []


async def test_a_name_resolving_to_loopback_is_refused_after_dns(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, site: int
) -> None:
    names = {
        "intranet.example.com": ["127.0.0.1"],
        "meta.example.com": ["169.254.169.254"],
        "mixed.example.com": ["93.184.216.34", "10.1.2.3"],  # one private answer is enough to refuse
        "v6.example.com": ["::1"],
    }
    with net_guard(monkeypatch, names) as guard:
        for name in names:
            r = await client.post(KB_URL, json={"url": f"http://{name}:{site}/secret"})
            assert r.status_code == 422, (name, r.text)
            assert "private" in r.json()["detail"][0]["msg"]
    assert set(guard.resolved) == set(names)
    assert _Site.hits == [] and guard.refused == []


async def test_every_redirect_is_checked_again(monkeypatch: pytest.MonkeyPatch, site: int) -> None:
    """An allow-listed intranet wiki may be fetched; its redirect to another loopback port, a metadata name
    or file:// is refused before any connection is made."""
    names = {"wiki.corp.example": ["127.0.0.1"], "meta.example.com": ["169.254.169.254"]}
    policy = UrlPolicy.from_allowlist(["wiki.corp.example"])
    with net_guard(monkeypatch, names) as guard:
        ok = await fetch_url(f"http://wiki.corp.example:{site}/page", timeout_s=5, max_bytes=10_000,
                             policy=policy)
        assert b"Secret" in ok.data
        for target in (f"http://127.0.0.1:{site}/loopback", f"http://meta.example.com:{site}/meta",
                       "file:///etc/passwd", f"http://[::1]:{site}/v6"):
            _Site.redirect_to = target
            with pytest.raises(FetchBlockedError):
                await fetch_url(f"http://wiki.corp.example:{site}/redirect", timeout_s=5, max_bytes=10_000,
                                policy=policy)
    assert _Site.hits == ["/page"] + ["/redirect"] * 4
    assert guard.refused == []


async def test_allowlisted_networks_and_public_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {"docs.vendor.example": ["93.184.216.34"], "lan.example": ["10.20.0.7"]}
    with net_guard(monkeypatch, names) as guard:
        public = await allowed_addresses("docs.vendor.example", 443, UrlPolicy(), guard.resolve)
        assert public == ["93.184.216.34"]
        with pytest.raises(BlockedUrlError):
            await allowed_addresses("lan.example", 80, UrlPolicy(), guard.resolve)
        lan = UrlPolicy.from_allowlist(["10.20.0.0/16"])
        assert await allowed_addresses("lan.example", 80, lan, guard.resolve) == ["10.20.0.7"]
        wildcard = UrlPolicy.from_allowlist(["*.example"])
        assert await allowed_addresses("lan.example", 80, wildcard, guard.resolve) == ["10.20.0.7"]
    assert guard.refused == []


async def test_webhook_urls_follow_the_same_policy(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with net_guard(monkeypatch, {"hooks.example.com": ["10.0.0.9"]}) as guard:
        for url in ("http://127.0.0.1:9000/x", "http://169.254.169.254/", "http://[::1]/hook"):
            r = await client.post("/v1/workspace/webhooks", json={"name": "x", "webhook_url": url})
            assert r.status_code == 422, (url, r.text)
            assert r.json()["detail"][0]["loc"] == ["body", "webhook_url"]
            wrapped = await client.post(
                "/v1/workspace/webhooks", json={"settings": {"name": "x", "webhook_url": url}}
            )
            assert wrapped.status_code == 422
            assert wrapped.json()["detail"][0]["loc"] == ["body", "settings", "webhook_url"]
        created = await client.post(
            "/v1/workspace/webhooks", json={"name": "crm", "webhook_url": "https://hooks.example.com/x"}
        )
        assert created.status_code == 200  # a name is only judged when it is resolved, at delivery
        webhook_id = created.json()["webhook_id"]
        patched = await client.patch(
            f"/v1/workspace/webhooks/{webhook_id}", json={"webhook_url": "http://192.168.0.10/"}
        )
        assert patched.status_code == 422
        # At delivery, the name resolves to a private address: refused, nothing connected.
        async with httpx.AsyncClient(transport=GuardedTransport(UrlPolicy())) as http:
            with pytest.raises(httpx.ConnectError, match="private"):
                await http.post("https://hooks.example.com/x", json={})
    assert guard.refused == []
