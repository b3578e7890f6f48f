"""Webhook tools against a real HTTP server on 127.0.0.1 (aiohttp), not a mocked transport."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from dialogue_support import agent_config, make_dialogue, say

from sdr_agent.engines.base import LLMEvent, LLMFinished, LLMRequest, ToolCall, ToolCallDelta
from sdr_agent.engines.fakes import FakeLLM, FakeReply
from sdr_agent.engines.local.grounded import GroundedResponder

SECRET = "sk-live-7f3a9c-DO-NOT-LEAK"


class CRM:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.base = ""

    async def availability(self, request: web.Request) -> web.Response:
        self.requests.append(
            {"path": request.path, "query": dict(request.query), "headers": dict(request.headers)}
        )
        return web.json_response({"message": "Tuesday has open slots in the morning.", "echo": SECRET})

    async def leads(self, request: web.Request) -> web.Response:
        self.requests.append(
            {"path": request.path, "body": await request.json(), "headers": dict(request.headers)}
        )
        return web.json_response({"message": "Lead created.", "lead_id": "L-1"}, status=201)

    async def slow(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path})
        await asyncio.sleep(2.0)
        return web.json_response({"message": "too late"})

    async def broken(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path})
        return web.json_response({"error": "boom"}, status=500)


@pytest.fixture
async def crm() -> AsyncIterator[CRM]:
    crm = CRM()
    app = web.Application()
    app.router.add_get("/availability/{region}", crm.availability)
    app.router.add_post("/leads", crm.leads)
    app.router.add_get("/slow", crm.slow)
    app.router.add_get("/broken", crm.broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    crm.base = f"http://127.0.0.1:{port}"
    try:
        yield crm
    finally:
        await runner.cleanup()


def tools(base: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "webhook",
            "name": "check_availability",
            "description": "Open meeting slots for a region.",
            "response_timeout_secs": 5,
            "api_schema": {
                "url": base + "/availability/{region}",
                "method": "GET",
                "request_headers": {
                    "Authorization": "Bearer {{secret__crm_key}}",
                    "X-Agent": "{{system__agent_id}}",
                },
                "path_params_schema": {"region": {"type": "string", "enum": ["us", "eu"]}},
                "query_params_schema": {"properties": {"day": {"type": "string"}}, "required": ["day"]},
            },
        },
        {
            "type": "webhook",
            "name": "create_lead",
            "description": "Create a lead in the CRM.",
            "api_schema": {
                "url": base + "/leads",
                "method": "POST",
                "request_headers": {"Authorization": "Bearer {{secret__crm_key}}"},
                "request_body_schema": {
                    "type": "object",
                    "required": ["email"],
                    "properties": {
                        "email": {"type": "string", "description": "Lead email"},
                        "source": {"type": "string", "constant_value": "phone"},
                        "contact": {"type": "string", "dynamic_variable": "customer_name"},
                    },
                },
            },
        },
        {
            "type": "webhook",
            "name": "slow_lookup",
            "description": "Slow.",
            "response_timeout_secs": 0.3,
            "api_schema": {"url": base + "/slow", "method": "GET"},
        },
        {
            "type": "webhook",
            "name": "broken_lookup",
            "description": "Broken.",
            "api_schema": {"url": base + "/broken", "method": "GET"},
        },
    ]


def dialogue_for(crm: CRM, llm: Any) -> Any:
    return make_dialogue(
        llm,
        config=agent_config(tools=tools(crm.base)),
        variables={"customer_name": "Dana", "secret__crm_key": SECRET},
    )


async def test_get_tool_runs_at_once_with_secret_header_and_result_is_spoken(
    crm: CRM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    llm = FakeLLM(
        [
            FakeReply(tool_calls=(ToolCall("w1", "check_availability", {"region": "eu", "day": "tue"}),)),
            "Tuesday morning is open.",
        ]
    )
    turn = await say(dialogue_for(crm, llm), "Do you have time on Tuesday?")
    (seen,) = crm.requests
    assert seen["path"] == "/availability/eu" and seen["query"] == {"day": "tue"}
    assert seen["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert seen["headers"]["X-Agent"] == "agent_test"
    activity = turn.activities[0]
    assert activity.tool_call["type"] == "webhook" and activity.tool_call["tool_has_been_called"] is True
    assert "open slots in the morning" in (activity.tool_result or {})["result_value"]
    assert turn.text.endswith("Tuesday morning is open.")
    assert llm.requests[1].messages[-1].role == "tool"
    # The secret went on the wire only.
    everywhere = repr(turn.events) + repr(llm.requests) + caplog.text
    assert SECRET not in everywhere


async def test_grounded_responder_speaks_the_tool_summary(crm: CRM) -> None:
    class Scripted(GroundedResponder):
        """The offline responder, plus one webhook call on its first reply."""

        def __init__(self) -> None:
            super().__init__()
            self.first = True

        async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
            first, self.first = self.first, False
            async for event in super().stream(request):
                if first and isinstance(event, LLMFinished):
                    yield ToolCallDelta(ToolCall("c1", "check_availability", {"region": "us", "day": "mon"}))
                yield event

    turn = await say(dialogue_for(crm, Scripted()), "Is Monday open?")
    assert "Tuesday has open slots in the morning." in turn.text


async def test_post_tool_waits_for_confirmation_then_sends_body(crm: CRM) -> None:
    llm = FakeLLM(
        [FakeReply(tool_calls=(ToolCall("w2", "create_lead", {"email": "dana@globex.com"}),)), "Done."]
    )
    dialogue = dialogue_for(crm, llm)
    asked = await say(dialogue, "Sure, add me to your CRM, dana@globex.com.")
    assert crm.requests == []
    assert "Just to confirm, you'd like me to create lead. Shall I go ahead?" in asked.text
    done = await say(dialogue, "Yes, go ahead.")
    (seen,) = crm.requests
    assert seen["body"] == {"email": "dana@globex.com", "source": "phone", "contact": "Dana"}
    assert json.loads((done.activities[0].tool_result or {})["result_value"])["lead_id"] == "L-1"
    assert "Lead created." in done.text


async def test_invalid_webhook_arguments_never_reach_the_server(crm: CRM) -> None:
    llm = FakeLLM(
        [
            FakeReply(tool_calls=(ToolCall("w3", "check_availability", {"region": "mars"}),)),
            FakeReply(tool_calls=(ToolCall("w4", "check_availability", {"region": "us"}),)),
            "Sorry.",
        ]
    )
    turn = await say(dialogue_for(crm, llm), "What's open?")
    assert crm.requests == []
    errors = [(a.tool_result or {})["result_value"] for a in turn.activities]
    assert "'mars' is not one of ['us', 'eu']" in errors[0]
    assert "'day' is a required property" in errors[1]


async def test_timeouts_and_server_errors_become_error_results(crm: CRM) -> None:
    llm = FakeLLM(
        [
            FakeReply(tool_calls=(ToolCall("w5", "slow_lookup", {}),)),
            "",
            FakeReply(tool_calls=(ToolCall("w6", "broken_lookup", {}),)),
            "",
        ]
    )
    dialogue = dialogue_for(crm, llm)
    started = time.monotonic()
    slow = await say(dialogue, "Look it up please.")
    assert time.monotonic() - started < 1.5
    assert (slow.activities[0].tool_result or {})["is_error"] is True
    assert "timed out" in (slow.activities[0].tool_result or {})["result_value"]
    assert "couldn't get that done" in slow.text
    broken = await say(dialogue, "Try the other one.")
    assert (broken.activities[0].tool_result or {})["result_value"].startswith("HTTP 500")
