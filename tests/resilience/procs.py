"""Real ``sdr-agent serve`` processes for the crash, shutdown and replica tests (fake engines, loopback)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sdr_agent.sim.loopback_server import LoopbackServer

API_KEY = "proc-test-key"
PUBLIC_BASE_URL = "https://sdr-agent.proc.invalid"
AGENT_NUMBER = "+15550100000"
START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(
    *, database_url: str, data_dir: Path, twilio_sid: str, twilio_token: str, twilio_api_base: str,
    secret_key: str, extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDR_")}
    env.update({
        "SDR_API_KEYS": API_KEY,
        "SDR_DATABASE_URL": database_url,
        "SDR_DATA_DIR": str(data_dir),
        "SDR_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SDR_TWILIO_ACCOUNT_SID": twilio_sid,
        "SDR_TWILIO_AUTH_TOKEN": twilio_token,
        "SDR_TWILIO_FROM_NUMBER": AGENT_NUMBER,
        "SDR_TWILIO_API_BASE": twilio_api_base,
        "SDR_SECRET_KEY": secret_key,
        "SDR_STT__PROVIDER": "fake", "SDR_STT__FALLBACK": "none",
        "SDR_TTS__PROVIDER": "fake", "SDR_TTS__FALLBACK": "none",
        "SDR_LLM__PROVIDER": "fake", "SDR_LLM__FALLBACK": "none",
        "SDR_VAD__PROVIDER": "fake",
        "SDR_LOG_JSON": "false",
        "SDR_LOG_LEVEL": "INFO",
        "SDR_SECURITY__URL_ALLOWLIST": json.dumps(["127.0.0.0/8", "localhost"]),
        "SDR_WEBHOOKS__BASE_DELAY_S": "0.2",
        "SDR_WEBHOOKS__POLL_INTERVAL_S": "0.2",
        "SDR_RESILIENCE__CALL_LEASE_S": "2",
        "SDR_RESILIENCE__RECOVERY_INTERVAL_S": "0.5",
        "SDR_RESILIENCE__AUDIO_CHECKPOINT_S": "0.5",
        "SDR_RESILIENCE__SHUTDOWN_GRACE_S": "10",
    })
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    """One ``sdr-agent serve`` on a fixed port, its output in a log file."""

    env: dict[str, str]
    port: int
    log_path: Path
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()  # more ``serve`` options (e.g. ``--workers 2``)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = self.log_path.open("ab")
        cli = str(Path(sys.executable).parent / "sdr-agent")
        cmd = [cli, "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited during start-up:\n{self.log_path.read_text()[-3000:]}")
                try:
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise TimeoutError("server did not start")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    async def terminate(self, timeout: float) -> float:
        """SIGTERM; seconds until the process exited (raises if it outlived ``timeout``)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        while self.proc.poll() is None:
            if time.monotonic() - started > timeout:
                self.kill()
                raise TimeoutError("the server outlived its shutdown bound")
            await asyncio.sleep(0.1)
        return time.monotonic() - started


@dataclass
class Receiver:
    """A CRM webhook endpoint on loopback that records what arrives."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: LoopbackServer | None = None

    async def start(self) -> str:
        async def hook(request: Request) -> Response:
            self.requests.append((dict(request.headers), await request.body()))
            return Response(status_code=200)

        self.server = LoopbackServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
        await self.server.start()
        return f"{self.server.url}/hook"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    def events_for(self, conversation_id: str) -> list[dict[str, object]]:
        found = []
        for _, body in self.requests:
            event = json.loads(body)
            if event.get("data", {}).get("conversation_id") == conversation_id:
                found.append(event)
        return found


async def wait_until(predicate: object, timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


class AlternatingProxy:
    """A TCP proxy on loopback that sends each new connection to the next backend in turn (a load balancer
    with no affinity): a call's webhooks and its media socket land on different replicas."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = 0
        self.routed: list[int] = []
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        backend = self.backends[len(self.routed) % len(self.backends)]
        self.routed.append(backend)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", backend)
        except OSError:
            client_w.close()
            return
        for reader, writer in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
