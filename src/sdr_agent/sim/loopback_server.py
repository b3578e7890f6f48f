"""Runs a stand-in ASGI app with uvicorn on 127.0.0.1 and a free port, as an async context manager."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0


class _InProcessServer(uvicorn.Server):
    """Leaves signal handling to the host process (tests, the demo command)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class LoopbackServer:
    def __init__(self, app: ASGIApp, *, log_level: str = "critical") -> None:
        self._app = app
        self._log_level = log_level
        self._server: _InProcessServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LoopbackServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_level=self._log_level,
            access_log=False,
            ws="websockets-sansio",
            timeout_graceful_shutdown=1,
        )
        server = self._server = _InProcessServer(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name=f"loopback-{self.port}")
        async with asyncio.timeout(START_TIMEOUT_S):
            while not server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("stand-in server stopped during startup")
                await asyncio.sleep(0.01)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
