"""Shared pieces of the post-call tests: a scripted webhook receiver (ASGI), a sales transcript, an agent
config with criteria and data fields, and helpers that build conversations and register webhooks."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from sdr_agent.services import Services
from sdr_agent.settings import WebhookDeliverySettings
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos.conversations import TurnRecord

FAST_DELIVERY = WebhookDeliverySettings(
    base_delay_s=0.05, max_delay_s=0.2, timeout_s=2.0, poll_interval_s=0.05, lease_s=5.0
)


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next scripted status and delay (the last ones repeat); records requests."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delays_s: list[float] = field(default_factory=lambda: [0.0])
    requests: list[ReceivedRequest] = field(default_factory=list)
    base_url: str = ""

    @property
    def url(self) -> str:
        return self.base_url + "/hooks/elevenlabs"

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        index = len(self.requests)
        self.requests.append(ReceivedRequest(scope["path"], headers, body))
        delay = self.delays_s[min(index, len(self.delays_s) - 1)]
        if delay:
            await asyncio.sleep(delay)
        status = self.statuses[min(index, len(self.statuses) - 1)]
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": f"status {status}".encode()})

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
            await asyncio.sleep(0.02)


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def register_webhook(
    client: httpx.AsyncClient, url: str, *, events: list[str] | None = None, send_audio: bool = False
) -> tuple[str, str]:
    """Register a receiver and select it as the workspace's post-call webhook; returns (id, secret)."""
    created = await client.post(
        "/v1/workspace/webhooks", json={"settings": {"name": "CRM", "webhook_url": url, "auth_type": "hmac"}}
    )
    assert created.status_code == 200, created.text
    webhook_id, secret = created.json()["webhook_id"], created.json()["webhook_secret"]
    selection: dict[str, Any] = {"post_call_webhook_id": webhook_id, "send_audio": send_audio}
    if events is not None:
        selection["events"] = events
    patched = await client.patch("/v1/convai/settings", json={"webhooks": selection})
    assert patched.status_code == 200, patched.text
    return webhook_id, secret


SALES_TURNS = [
    ("agent", "Hi Dana, this is Alex from Acme. Do you have a minute?"),
    ("user", "Sure, what is this about?"),
    ("agent", "We help sales teams book more meetings. How big is your team?"),
    ("user", "We have 25 reps. Honestly it sounds interesting but it might be too expensive."),
    ("agent", "Plans start at 99 dollars a seat. What budget did you have in mind?"),
    ("user", "Our budget is around $20k a year and we want to roll out next quarter."),
    ("agent", "Great. Shall we book a demo on Tuesday at 3pm?"),
    ("user", "Yes, that works for me. My email is dana@example.com."),
    ("agent", "Booked. Thanks Dana, talk soon!"),
]

PLATFORM_SETTINGS: dict[str, Any] = {
    "evaluation": {
        "criteria": [
            {"id": "meeting", "name": "Meeting booked", "conversation_goal_prompt": "Book a demo meeting."},
            {
                "id": "budget_known",
                "name": "Budget",
                "conversation_goal_prompt": "Learn the prospect's budget.",
            },
            {"id": "rapport", "name": "Rapport", "conversation_goal_prompt": "Make the prospect laugh."},
        ]
    },
    "data_collection": {
        "budget": {"type": "string", "description": "Annual budget mentioned by the prospect"},
        "budget_amount": {"type": "number", "description": "The budget as a number"},
        "timeline": {"type": "string", "description": "When they plan to start"},
        "meeting_booked": {"type": "boolean", "description": "Was a meeting booked"},
        "email": {"type": "string", "description": "Prospect email"},
        "favourite_colour": {"type": "string", "description": "Their favourite colour"},
    },
}


async def make_conversation(
    services: Services,
    turns: list[tuple[str, str]] | None = None,
    *,
    platform_settings: dict[str, Any] | None = None,
    tool_turn: bool = True,
    status: str = "in-progress",
) -> str:
    """An agent plus an outbound conversation with a sales transcript (and a booking tool call)."""
    started = datetime.now(UTC) - timedelta(seconds=95)
    async with services.db.session() as session:
        agent = await agents_repo.create_agent(
            session,
            name="SDR Alex",
            platform_settings=PLATFORM_SETTINGS if platform_settings is None else platform_settings,
        )
        conversation = await conversations_repo.create_conversation(
            session,
            agent_id=agent.agent_id,
            direction="outbound",
            status=status,
            call_sid="CA" + secrets.token_hex(16),
            from_number="+15550000000",
            to_number="+15551234567",
            dynamic_variables={"customer_name": "Dana"},
        )
        await conversations_repo.update_conversation(
            session, conversation.conversation_id, started_at=started, duration_secs=95.0
        )
        for index, (role, text) in enumerate(turns if turns is not None else SALES_TURNS):
            record = TurnRecord(role=role, message=text, time_in_call_secs=index * 10.0)
            if tool_turn and role == "agent" and text.startswith("Booked"):
                record.tool_calls = [
                    {
                        "request_id": "t1",
                        "tool_name": "book_meeting",
                        "type": "system",
                        "params_as_json": "{}",
                        "tool_has_been_called": True,
                    }
                ]
                record.tool_results = [
                    {
                        "request_id": "t1",
                        "tool_name": "book_meeting",
                        "result_value": "ok",
                        "is_error": False,
                        "tool_has_been_called": True,
                    }
                ]
            await conversations_repo.append_turn(session, conversation.conversation_id, record)
    return conversation.conversation_id


async def wait_for_delivery(
    client: httpx.AsyncClient, status: str, *, count: int = 1, timeout: float = 10.0, **filters: str
) -> list[dict[str, Any]]:
    """Poll the deliveries API until ``count`` deliveries have ``status``; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        listed = await client.get("/v1/convai/webhook-deliveries", params={"status": status, **filters})
        assert listed.status_code == 200, listed.text
        found: list[dict[str, Any]] = listed.json()["deliveries"]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            everything = (await client.get("/v1/convai/webhook-deliveries")).json()
            raise AssertionError(f"no {count} {status} deliveries in time; outbox: {everything}")
        await asyncio.sleep(0.03)
