"""URLs, auth headers and connection errors shared by the Deepgram listen and speak adapters."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from sdr_agent.engines.base import EngineError

CONNECT_TIMEOUT_S = 5.0


def require_key(key: SecretStr | None, setting: str) -> str:
    if key is None or not key.get_secret_value():
        raise EngineError(f"Deepgram needs an API key: set {setting}")
    return key.get_secret_value()


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Token {api_key}"}


def ws_base(url: str) -> str:
    """The configured base as a WebSocket URL (``https://`` and ``wss://`` both accepted)."""
    base = url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://")
    if base.startswith("http://"):
        return "ws://" + base.removeprefix("http://")
    return base


def http_base(url: str) -> str:
    """The configured base as an HTTP URL, for the REST endpoints next to the sockets."""
    base = url.rstrip("/")
    if base.startswith("wss://"):
        return "https://" + base.removeprefix("wss://")
    if base.startswith("ws://"):
        return "http://" + base.removeprefix("ws://")
    return base


def with_query(url: str, params: Mapping[str, str | int | float]) -> str:
    encoded = {key: str(v).lower() if isinstance(v, bool) else str(v) for key, v in params.items()}
    return f"{url}?{urlencode(encoded)}"


async def open_socket(url: str, api_key: str) -> ClientConnection:
    """Open a Deepgram socket; every way the handshake can fail becomes an ``EngineError``."""
    try:
        return await connect(
            url,
            additional_headers=auth_headers(api_key),
            open_timeout=CONNECT_TIMEOUT_S,
            compression=None,  # μ-law does not compress and deflate costs CPU per frame
            max_size=4 * 1024 * 1024,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = exc.response.body.decode("utf-8", "replace")[:200] if exc.response.body else ""
        raise EngineError(f"Deepgram refused the connection: HTTP {status} {body}".strip()) from exc
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        raise EngineError(f"Deepgram connection failed: {exc!r}") from exc
