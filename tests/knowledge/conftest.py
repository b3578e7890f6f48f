"""Knowledge-base fixtures: the real MiniLM embedder (loaded once), a store on a temp Chroma, sample files,
and a loopback HTTP server for URL ingestion."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from kb_samples import SAMPLE_HTML

from sdr_agent.knowledge.chroma_client import open_chroma
from sdr_agent.knowledge.embedder import MiniLMEmbedder, shared_embedder
from sdr_agent.knowledge.store import KnowledgeStore


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return shared_embedder()


@pytest.fixture
def store(tmp_path: Path, embedder: MiniLMEmbedder) -> KnowledgeStore:
    return KnowledgeStore(lambda: open_chroma(None, tmp_path / "chroma"), embedder, collection_name="kb_test")


class _Pages(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(2.0)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/page.html")
            self.end_headers()
            return
        status, content_type, body = self.routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def web_server() -> Iterator[str]:
    """A loopback HTTP server with a few pages; yields its base URL."""
    _Pages.routes = {
        "/page.html": (200, "text/html; charset=utf-8", SAMPLE_HTML.encode()),
        "/notes.txt": (200, "text/plain", b"The office closes at noon on Fridays."),
        "/big.html": (200, "text/html", b"<p>" + b"x" * 5000 + b"</p>"),
        "/image.png": (200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        "/slow": (200, "text/plain", b"late"),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
