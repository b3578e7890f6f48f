"""Post-call fixtures: tiny delivery backoff and a real HTTP webhook receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from tests.postcall.helpers import FAST_DELIVERY, Receiver

from sdr_agent.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks": FAST_DELIVERY})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    config = uvicorn.Config(target, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("webhook receiver did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    target.base_url = f"http://127.0.0.1:{port}"
    try:
        yield target
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
