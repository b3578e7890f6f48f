"""The one list of routers and subsystem start/stop hooks. Each subsystem owns its own module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import import_module

from fastapi import APIRouter

from sdr_agent.services import Services

Hook = Callable[[Services], Awaitable[None]]

# module path -> attribute holding its APIRouter
_ROUTER_MODULES: list[str] = [
    "sdr_agent.api.health",
    "sdr_agent.api.docs",
    "sdr_agent.api.agents",
    "sdr_agent.api.conversations",
    "sdr_agent.api.phone_numbers",
    "sdr_agent.api.webhook_configs",
    "sdr_agent.api.knowledge_base",
    "sdr_agent.api.calls",
    "sdr_agent.api.twiml",
    "sdr_agent.api.media_stream",
    "sdr_agent.api.webhook_deliveries",
    "sdr_agent.api.metrics",
    "sdr_agent.api.batch_calling",
    "sdr_agent.api.suppression_list",
    "sdr_agent.api.tools",
    "sdr_agent.web.socket",
    "sdr_agent.web.simulate",
    "sdr_agent.web.console",
]

# module path -> (start, stop) functions named `on_startup` / `on_shutdown`
_HOOK_MODULES: list[str] = [
    "sdr_agent.voice.runtime",
    "sdr_agent.webhooks.runtime",
    "sdr_agent.observability.runtime",
    "sdr_agent.campaigns.runtime",
    "sdr_agent.voice.lifecycle",
]


def all_routers() -> list[APIRouter]:
    routers: list[APIRouter] = []
    for path in _ROUTER_MODULES:
        module = import_module(path)
        routers.append(module.router)
    return routers


def startup_hooks() -> list[Hook]:
    return [import_module(path).on_startup for path in _HOOK_MODULES]


def shutdown_hooks() -> list[Hook]:
    return [import_module(path).on_shutdown for path in _HOOK_MODULES]
