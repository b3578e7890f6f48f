"""Helpers for the campaign tests: a zone where calling hours are open right now, waiting on a batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
OPEN_WINDOW = {"start": "08:00", "end": "21:00", "days": ALL_DAYS}


# US numbers (valid for phonenumbers): 202 is Washington DC, 415 San Francisco, 312 Chicago.
def us_number(n: int, area: str = "202") -> str:
    return f"+1{area}555{n:04d}"


def open_zone_now() -> str:
    """A fixed-offset zone whose local time is mid-day now, so an open 08:00-21:00 window accepts calls."""
    now = datetime.now(UTC)
    for offset in range(-12, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"
        local = now.astimezone(ZoneInfo(name))
        if 10 <= local.hour < 19:
            return name
    raise AssertionError("no zone is mid-day")  # cannot happen: offsets cover 26 hours


async def wait_for_batch(
    api: httpx.AsyncClient, batch_id: str, done: Any, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll GET /batch-calling/{id} until ``done(body)``; returns the last body."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await api.get(f"/v1/convai/batch-calling/{batch_id}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        if done(body) or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.1)


def all_terminal(body: dict[str, Any]) -> bool:
    return all(r["status"] in ("completed", "failed", "cancelled", "voicemail") for r in body["recipients"])
