"""``sdr-agent serve --workers N``: several server processes on one machine, one listening socket.

The parent checks that the deployment can be shared (see ``check_workers``), runs the migrations and the
secret-key set-up once, points ``prometheus_client`` at a fresh multiprocess directory, then hands the
socket to uvicorn's supervisor, which spawns N workers and replaces any that die. Each worker builds its own
app with ``worker_app`` (an import-string factory: spawned processes cannot inherit an app object).

What several workers share, and how (the same rules as several replicas, ``shared/design.md``):
- call tokens, signed-URL nonces, call leases, checkpoints: rows in PostgreSQL, consumed by one conditional
  UPDATE, so a token minted by one worker is accepted once by whichever worker gets the media socket;
- webhook outbox and campaign dialer: rows claimed with leases (a fenced conditional UPDATE, ``FOR UPDATE
  SKIP LOCKED``), so no delivery or dial runs twice;
- rate-limit counters: the database (``SDR_SECURITY__RATE_LIMIT_STORAGE=memory`` is refused: each worker
  would count alone and allow N times the limit);
- metrics: ``prometheus_client`` multiprocess files plus per-worker snapshots of the live call counters
  (``observability.shared``), summed by whichever worker answers ``/metrics``;
- hang-up of a live call: through Twilio's REST API, which stops the media stream wherever it lives;
- knowledge base: a Chroma server (``SDR_CHROMA_URL``); the embedded store is one process's files.
SQLite is refused: several processes would queue on its single writer lock and its claims have no
``SKIP LOCKED``, so run one worker (or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi import FastAPI

from sdr_agent.settings import Settings, get_settings

log = logging.getLogger(__name__)

# How the parent tells its workers what only the command line knew (env survives the spawn).
INSECURE_DEV_ENV = "SDR_SERVE_INSECURE_DEV"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_APP = "sdr_agent.cli.workers:worker_app"

ExitHandler = Callable[[int, FrameType | None], Any]


class WorkersUnsupportedError(RuntimeError):
    pass


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse a multi-worker set-up whose shared state would live in one process (clear message, exit 2)."""
    if workers <= 1:
        return
    if settings.database_url.startswith("sqlite"):
        raise WorkersUnsupportedError(
            f"--workers {workers} needs PostgreSQL (SDR_DATABASE_URL=postgresql+asyncpg://...): on SQLite "
            "the workers would queue on one writer lock and background jobs cannot be claimed safely; "
            "run one worker on SQLite"
        )
    if settings.security.rate_limit_storage == "memory":
        raise WorkersUnsupportedError(
            f"--workers {workers} with SDR_SECURITY__RATE_LIMIT_STORAGE=memory would let each worker count "
            "its own requests (N times the limit): use 'database' or 'auto'"
        )
    if not settings.chroma_url:
        raise WorkersUnsupportedError(
            f"--workers {workers} needs a Chroma server (SDR_CHROMA_URL=http://host:8000, e.g. "
            f"`chroma run --path {settings.chroma_path}`): the embedded knowledge store is not safe for "
            "writes from several processes"
        )


def prepare_metrics_dir(settings: Settings) -> Path:
    """A fresh directory for this run's multiprocess metrics (files of a previous run would be summed in)."""
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.iterdir():
            if stale.is_file():
                stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="sdr-agent-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def remove_metrics_dir(path: Path) -> None:
    if "sdr-agent-metrics-" in path.name:
        shutil.rmtree(path, ignore_errors=True)


async def prepare_shared_once(settings: Settings) -> None:
    """Generate or check the secret key and re-seal stored secrets before any worker starts: N workers
    racing to create the key file would each pick a different key."""
    from sdr_agent.storage.db import Database
    from sdr_agent.storage.secrets_boot import prepare_secrets

    database = Database(settings.database_url)
    try:
        await prepare_secrets(settings, database.engine)
    finally:
        await database.dispose()


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn calls it inside the worker's event loop)."""
    from sdr_agent.app import create_app
    from sdr_agent.logs import configure_logging

    settings = get_settings()
    configure_logging(settings)
    app = create_app(settings, migrate=False)  # the parent migrated before spawning
    app.state.insecure_dev = os.environ.get(INSECURE_DEV_ENV) == "1" and not settings.api_keys
    drain_on_sigterm(app, settings.resilience.shutdown_grace_s)
    return app


def drain_on_sigterm(app: FastAPI, grace_s: float) -> None:
    """SIGTERM tells this worker's live calls goodbye before uvicorn's own exit handler runs.

    uvicorn's supervisor forwards SIGTERM to every worker; the worker's server installed its handler just
    before loading the app, so the handler found here is the server's and is called once the drain ends.
    """
    exit_handler = signal.getsignal(signal.SIGTERM)
    if not callable(exit_handler):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    draining = False

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        nonlocal draining
        if draining:
            exit_handler(sig, frame)
            return
        draining = True
        loop.call_soon_threadsafe(
            lambda: loop.create_task(drain_then_exit(app, grace_s, lambda: exit_handler(sig, frame)))
        )

    signal.signal(signal.SIGTERM, on_sigterm)


async def drain_then_exit(app: FastAPI, grace_s: float, exit_now: Callable[[], object]) -> None:
    from sdr_agent.voice.lifecycle import drain_calls

    try:
        services = app.state.services
        left = await asyncio.wait_for(drain_calls(services, grace_s), grace_s + 1)
        log.info("SIGTERM: calls drained (%d still live are saved on shutdown)", left)
    except Exception:
        log.exception("draining calls on SIGTERM failed")
    finally:
        exit_now()
