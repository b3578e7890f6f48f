"""Open the Chroma client the settings ask for: embedded on disk, or a server when SDR_CHROMA_URL is set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


@dataclass(frozen=True, slots=True)
class ChromaServer:
    host: str
    port: int
    ssl: bool


def parse_chroma_url(url: str) -> ChromaServer:
    """``http://host:8000`` → ChromaServer. Raises ValueError for anything that is not an http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"SDR_CHROMA_URL must look like http://host:port, got {url!r}")
    ssl = parts.scheme == "https"
    try:
        port = parts.port or (443 if ssl else 8000)
    except ValueError as exc:
        raise ValueError(f"SDR_CHROMA_URL has an invalid port: {url!r}") from exc
    return ChromaServer(parts.hostname, port, ssl)


def open_chroma(chroma_url: str | None, chroma_path: Path) -> ClientAPI:
    """Blocking (imports chromadb, may touch disk or network): call it from a worker thread."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    # Chroma's anonymous telemetry would phone home; this product stays offline.
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        server = parse_chroma_url(chroma_url)
        return chromadb.HttpClient(
            host=server.host, port=server.port, ssl=server.ssl, settings=chroma_settings
        )
    chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(chroma_path), settings=chroma_settings)
