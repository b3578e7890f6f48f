"""Workspace tools (/v1/convai/tools) through the official SDK, and their use by calls via prompt.tool_ids."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.types import ToolRequestModel, ToolRequestModelToolConfig_Webhook

pytestmark = [
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning")
]

WEBHOOK = {
    "type": "webhook",
    "name": "check_stock",
    "description": "Look up stock for a product.",
    "api_schema": {
        "url": "https://crm.example.com/stock/{sku}",
        "method": "GET",
        "path_params_schema": {"sku": {"type": "string", "description": "Product code"}},
    },
}


def test_tool_crud_through_the_sdk(live_server: str) -> None:
    tools = ElevenLabs(api_key="test-key", base_url=live_server, timeout=10).conversational_ai.tools
    created = tools.create(
        request=ToolRequestModel(tool_config=ToolRequestModelToolConfig_Webhook(**WEBHOOK))
    )
    assert created.id.startswith("tool_") and created.tool_config.name == "check_stock"
    assert created.access_info.role == "admin" and created.usage_stats.avg_latency_secs == 0
    second = tools.create(
        request=ToolRequestModel(
            tool_config={
                **WEBHOOK,
                "name": "create_lead",  # type: ignore[arg-type]
                "api_schema": {**WEBHOOK["api_schema"], "method": "POST"},
            }
        )
    )
    listed = tools.list(page_size=1)
    assert [t.id for t in listed.tools] == [second.id] and listed.has_more and listed.next_cursor
    rest = tools.list(page_size=1, cursor=listed.next_cursor)
    assert [t.id for t in rest.tools] == [created.id] and not rest.has_more
    assert [t.id for t in tools.list(search="check").tools] == [created.id]
    assert tools.get(created.id).tool_config.description == "Look up stock for a product."
    updated = tools.update(
        created.id,
        request=ToolRequestModel(
            tool_config=ToolRequestModelToolConfig_Webhook(**{**WEBHOOK, "description": "Stock by SKU."})
        ),
    )
    assert updated.tool_config.description == "Stock by SKU."
    tools.delete(created.id)
    with pytest.raises(ApiError) as missing:
        tools.get(created.id)
    assert missing.value.status_code == 404


async def test_bad_tool_bodies_are_422_and_unknown_ids_404(client: httpx.AsyncClient) -> None:
    bad = [
        {"tool_config": {"type": "webhook", "name": "no_url", "api_schema": {}}},
        {"tool_config": {"type": "webhook", "name": "local", "api_schema": {"url": "http://10.0.0.5/x"}}},
        {"tool_config": {"type": "webhook", "name": "ftp", "api_schema": {"url": "ftp://example.com/x"}}},
        {"tool_config": {"type": "teleport", "name": "x"}},
        {"tool_config": {"type": "system", "name": "has spaces"}},
        {"tool_config": {"type": "system", "name": "x", "params": {"system_tool_type": "self_destruct"}}},
        {"nothing": True},
    ]
    for body in bad:
        response = await client.post("/v1/convai/tools", json=body)
        assert response.status_code == 422, body
    assert (await client.get("/v1/convai/tools/tool_nope")).status_code == 404
    assert (
        await client.patch("/v1/convai/tools/tool_nope", json={"tool_config": WEBHOOK})
    ).status_code == 404
    assert (await client.delete("/v1/convai/tools/tool_nope")).status_code == 404
    assert (await client.get("/v1/convai/tools", params={"cursor": "garbage"})).status_code in (400, 422)
    assert (await client.get("/v1/convai/tools", headers={"xi-api-key": "wrong"})).status_code == 401


async def test_tool_ids_are_resolved_on_every_call(client: httpx.AsyncClient, settings, db) -> None:  # type: ignore[no-untyped-def]
    from sdr_agent.dialogue.factory import DialogueDeps, build_dialogue
    from sdr_agent.engines.local.grounded import GroundedResponder
    from sdr_agent.services import Services
    from sdr_agent.voice.runtime import workspace_tools

    created = (await client.post("/v1/convai/tools", json={"tool_config": WEBHOOK})).json()
    config = {"agent": {"prompt": {"prompt": "Sell.", "tool_ids": [created["id"], "tool_gone"]}}}
    services = Services(settings=settings, db=db)

    async def no_passages(*_: object) -> list:  # type: ignore[type-arg]
        return []

    def dialogue_tools() -> list[str]:
        return [spec.name for spec in dialogue._setup.toolbox.specs]

    tools = await workspace_tools(services, config)
    dialogue = build_dialogue(
        agent_config=config,
        platform_settings={},
        agent_id="a",
        agent_name="Maya",
        dynamic_variables={},
        tools=tools,
        deps=DialogueDeps(
            llm=GroundedResponder(),
            retrieve=no_passages,
            book_meeting=None,
            http=None,
            clock=lambda: datetime.now(UTC),
        ),
    )
    assert "check_stock" in dialogue_tools()
    # An edit to the workspace tool is in use from the next call on.
    renamed = {**WEBHOOK, "name": "stock_lookup"}
    assert (
        await client.patch(f"/v1/convai/tools/{created['id']}", json={"tool_config": renamed})
    ).status_code == 200
    assert [t["tool_config"]["name"] for t in await workspace_tools(services, config)] == ["stock_lookup"]
