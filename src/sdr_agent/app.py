"""Application factory. ``create_app(settings)`` wires routers and services; nothing starts at import."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from sdr_agent.api.errors import install_error_handlers
from sdr_agent.api.limits import BodySizeLimitMiddleware, InputBoundsMiddleware
from sdr_agent.api.openapi_errors import install_error_docs
from sdr_agent.services import Services
from sdr_agent.settings import Settings, get_settings
from sdr_agent.storage.db import Database
from sdr_agent.storage.migrate import upgrade_async
from sdr_agent.storage.secrets_boot import prepare_secrets

log = logging.getLogger(__name__)

# Subsystems register start/stop hooks here (engines warm-up, webhook worker, ...).
StartupHook = Callable[[Services], Awaitable[None]]


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    startup_hooks, shutdown_hooks = _subsystem_hooks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(settings.database_url)
        database = Database(settings.database_url)
        try:
            # Refuses to start when secrets are stored and no key opens them; encrypts plaintext rows.
            database.bind_secrets(await prepare_secrets(settings, database.engine))
        except BaseException:
            await database.dispose()
            raise
        services = Services(settings=settings, db=database)
        app.state.services = services
        for hook in startup_hooks:
            await hook(services)
        # Models and modules loaded at start-up live for the whole process: keep them out of the garbage
        # collector's full passes, whose pauses would otherwise outlast the 60 ms playback lead.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for hook in reversed(shutdown_hooks):
                try:
                    await hook(services)
                except Exception:
                    log.exception("shutdown hook failed")
            await services.db.dispose()

    app = FastAPI(
        title="sdr-agent",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    # Outermost last: the size limit wraps the JSON-depth/query bounds, so what they buffer is bounded.
    app.add_middleware(
        InputBoundsMiddleware,
        max_json_depth=settings.security.max_json_depth,
        max_query_bytes=settings.security.max_query_bytes,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    install_error_docs(app)
    for router in _routers():
        app.include_router(router)
    return app


def _routers() -> list[APIRouter]:
    # Imported here, not at module level, so importing the factory (the CLI does) stays cheap.
    from sdr_agent.api import (
        agents,
        batch_calling,
        calls,
        conversations,
        docs,
        health,
        knowledge_base,
        media_stream,
        metrics,
        phone_numbers,
        suppression_list,
        tools,
        twiml,
        webhook_configs,
        webhook_deliveries,
    )
    from sdr_agent.web import console, simulate, socket

    return [
        health.router,
        docs.router,
        agents.router,
        conversations.router,
        phone_numbers.router,
        webhook_configs.router,
        knowledge_base.router,
        calls.router,
        twiml.router,
        media_stream.router,
        webhook_deliveries.router,
        metrics.router,
        batch_calling.router,
        suppression_list.router,
        tools.router,
        socket.router,
        simulate.router,
        console.router,
    ]


def _subsystem_hooks() -> tuple[list[StartupHook], list[StartupHook]]:
    """Start/stop hooks of each subsystem, in start order (stopped in reverse)."""
    from sdr_agent.campaigns import runtime as campaigns_runtime
    from sdr_agent.observability import runtime as observability_runtime
    from sdr_agent.voice import lifecycle as voice_lifecycle
    from sdr_agent.voice import runtime as voice_runtime
    from sdr_agent.webhooks import runtime as webhooks_runtime

    subsystems = [voice_runtime, webhooks_runtime, observability_runtime, campaigns_runtime, voice_lifecycle]
    return [s.on_startup for s in subsystems], [s.on_shutdown for s in subsystems]
