"""``sdr-agent serve``: migrate the database, then run the API with uvicorn."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from types import FrameType

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from sdr_agent.app import create_app
from sdr_agent.cli import workers as multi
from sdr_agent.logs import configure_logging
from sdr_agent.settings import Settings, get_settings
from sdr_agent.storage.migrate import upgrade

log = logging.getLogger(__name__)

INSECURE_WARNING = (
    "INSECURE DEV MODE: SDR_API_KEYS is empty, so every /v1 route is open to anyone who can reach this port. "
    "Never expose this server."
)


WORKER_HEALTHCHECK_S = 120


class MissingApiKeysError(RuntimeError):
    pass


def check_api_keys(settings: Settings, *, insecure_dev: bool) -> None:
    """Refuse an open server unless the operator asked for one."""
    if not settings.api_keys and not insecure_dev:
        raise MissingApiKeysError(
            "SDR_API_KEYS is empty: set at least one key (comma-separated), "
            "or pass --insecure-dev for local work"
        )


def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    insecure_dev: bool = typer.Option(False, "--insecure-dev", help="allow running without SDR_API_KEYS"),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64,
        help="server processes sharing the port (more than 1 needs PostgreSQL and a Chroma server)",
    ),
) -> None:
    """Run the API server (migrations first)."""
    settings = get_settings()
    console = Console(stderr=True)
    try:
        check_api_keys(settings, insecure_dev=insecure_dev)
        multi.check_workers(settings, workers)
    except (MissingApiKeysError, multi.WorkersUnsupportedError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if insecure_dev and not settings.api_keys:
        console.print(f"[bold white on red] {INSECURE_WARNING} [/]")
    configure_logging(settings)
    upgrade(settings.database_url)
    if workers > 1:
        serve_workers(settings, host, port, workers, insecure_dev=insecure_dev)
        return
    app = create_app(settings, migrate=False)
    app.state.insecure_dev = bool(insecure_dev and not settings.api_keys)
    grace = settings.resilience.shutdown_grace_s
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, ws="websockets-sansio", server_header=False,
        # After the calls were told goodbye, sockets still open get this long to save before being cancelled.
        timeout_graceful_shutdown=max(1, round(grace / 2)),
    )
    DrainingServer(config, app, grace).run()


def serve_workers(
    settings: Settings, host: str, port: int, workers: int, *, insecure_dev: bool,
    app_factory: str = multi.WORKER_APP, log_level: str | None = None, access_log: bool = True,
) -> None:
    """N worker processes on one socket under uvicorn's supervisor (``cli.workers`` says what they share).
    ``app_factory``: the import string of the workers' app factory (the capacity bench passes its own)."""
    from uvicorn.supervisors import Multiprocess

    asyncio.run(multi.prepare_shared_once(settings))
    metrics_dir = multi.prepare_metrics_dir(settings)
    os.environ[multi.INSECURE_DEV_ENV] = "1" if insecure_dev else "0"
    grace = settings.resilience.shutdown_grace_s
    config = uvicorn.Config(
        app_factory, factory=True, host=host, port=port, workers=workers,
        log_config=None, log_level=log_level, access_log=access_log,
        ws="websockets-sansio", server_header=False, timeout_graceful_shutdown=max(1, round(grace / 2)),
        # The supervisor kills a worker that does not answer its ping in time; a fresh interpreter loading
        # the models on a busy machine takes far longer than uvicorn's 5 s default, and would be killed
        # (and respawned) forever.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
    )
    sock = config.bind_socket()
    log.info("serving with %d workers on %s:%d (metrics in %s)", workers, host, port, metrics_dir)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        multi.remove_metrics_dir(metrics_dir)


class DrainingServer(uvicorn.Server):
    """SIGTERM first tells live calls goodbye (``voice.lifecycle.drain_calls``, bounded), then shuts down.

    uvicorn alone would close every media socket at once with 1012 and, with no graceful timeout, wait for
    them forever. A second signal (or SIGINT) still stops at once.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace_s = grace_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._draining or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().handle_exit(sig, frame)
            return
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain_then_exit(sig, frame)))

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        exit_now = super().handle_exit
        await multi.drain_then_exit(self._app, self._grace_s, lambda: exit_now(sig, frame))
