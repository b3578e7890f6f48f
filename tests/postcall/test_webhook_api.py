"""Webhook receivers and the workspace selection, through HTTP and through the official SDK."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.types import ConvAiWebhooks, WebhookHmacSettings

pytestmark = pytest.mark.postgres


async def _create(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/workspace/webhooks", json=body)


async def test_create_list_update_delete(client: httpx.AsyncClient) -> None:
    created = await _create(
        client, settings={"name": "CRM", "webhook_url": "https://crm.test/hook", "auth_type": "hmac"}
    )
    assert created.status_code == 200
    webhook_id, secret = created.json()["webhook_id"], created.json()["webhook_secret"]
    assert webhook_id.startswith("whk_") and len(secret) >= 32
    flat = await _create(client, name="Flat", webhook_url="http://127.0.0.1:9000/x")
    assert flat.status_code == 200

    listed = (await client.get("/v1/workspace/webhooks")).json()["webhooks"]
    assert [w["name"] for w in listed] == ["Flat", "CRM"]
    crm = listed[1]
    assert crm == crm | {
        "webhook_id": webhook_id,
        "webhook_url": "https://crm.test/hook",
        "is_disabled": False,
        "is_auto_disabled": False,
        "auth_type": "hmac",
    }
    assert secret not in (await client.get("/v1/workspace/webhooks")).text  # shown once, never again

    patched = await client.patch(
        f"/v1/workspace/webhooks/{webhook_id}",
        json={"name": "CRM 2", "is_disabled": True, "webhook_url": "https://crm.test/v2"},
    )
    assert patched.status_code == 200 and patched.json() == {"status": "ok"}
    crm = next(
        w
        for w in (await client.get("/v1/workspace/webhooks")).json()["webhooks"]
        if w["webhook_id"] == webhook_id
    )
    assert (crm["name"], crm["is_disabled"], crm["webhook_url"]) == ("CRM 2", True, "https://crm.test/v2")

    assert (await client.delete(f"/v1/workspace/webhooks/{webhook_id}")).json() == {"status": "ok"}
    gone = await client.delete(f"/v1/workspace/webhooks/{webhook_id}")
    assert gone.status_code == 404 and webhook_id in gone.json()["detail"]
    assert (await client.patch(f"/v1/workspace/webhooks/{webhook_id}", json={"name": "x"})).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"settings": {"name": "x", "webhook_url": "ftp://crm.test"}}, "webhook_url"),
        ({"settings": {"name": "x", "webhook_url": "not a url"}}, "webhook_url"),
        ({"settings": {"name": "", "webhook_url": "https://crm.test"}}, "name"),
        ({"name": "x", "webhook_url": "https://crm.test", "auth_type": "oauth2"}, "auth_type"),
        ({"name": "x", "webhook_url": "https://crm.test", "events": ["everything"]}, "events"),
        (
            {"name": "x", "webhook_url": "https://crm.test", "request_headers": {"X-Token": "t"}},
            "request_headers",
        ),
        ({"name": "x"}, "webhook_url"),
    ],
)
async def test_bad_webhooks_are_422_with_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/workspace/webhooks", json=body)
    assert response.status_code == 422
    assert any(field in err["loc"] for err in response.json()["detail"]), response.json()


async def test_other_bad_requests(client: httpx.AsyncClient) -> None:
    unknown_agent = await _create(client, name="x", webhook_url="https://crm.test", agent_id="agent_nope")
    assert unknown_agent.status_code == 404 and "agent_nope" in unknown_agent.json()["detail"]
    webhook_id = (await _create(client, name="x", webhook_url="https://crm.test")).json()["webhook_id"]
    no_retries = await client.patch(f"/v1/workspace/webhooks/{webhook_id}", json={"retry_enabled": False})
    assert no_retries.status_code == 422
    no_key = await client.get("/v1/workspace/webhooks", headers={"xi-api-key": ""})
    assert no_key.status_code == 401


async def test_convai_settings_select_the_post_call_webhook(client: httpx.AsyncClient) -> None:
    default = (await client.get("/v1/convai/settings")).json()
    assert default == {
        "webhooks": {"post_call_webhook_id": None, "events": ["transcript"], "send_audio": False}
    }
    webhook_id = (await _create(client, name="CRM", webhook_url="https://crm.test")).json()["webhook_id"]
    patched = await client.patch(
        "/v1/convai/settings",
        json={
            "webhooks": {"post_call_webhook_id": webhook_id, "events": ["transcript", "audio"]},
            "can_use_mcp_servers": True,  # other ElevenLabs settings are accepted and ignored
        },
    )
    assert patched.status_code == 200
    assert patched.json()["webhooks"] == {
        "post_call_webhook_id": webhook_id,
        "events": ["transcript", "audio"],
        "send_audio": False,
    }
    # a partial PATCH keeps what it does not name
    partial = await client.patch("/v1/convai/settings", json={"webhooks": {"send_audio": True}})
    assert partial.json()["webhooks"]["post_call_webhook_id"] == webhook_id
    assert (await client.get("/v1/convai/settings")).json()["webhooks"]["send_audio"] is True
    usage = (await client.get("/v1/workspace/webhooks", params={"include_usages": True})).json()["webhooks"]
    assert usage[0]["usage"] == [{"usage_type": "ConvAI Settings"}]

    unknown = await client.patch(
        "/v1/convai/settings", json={"webhooks": {"post_call_webhook_id": "whk_nope"}}
    )
    assert unknown.status_code == 422 and "whk_nope" in unknown.text
    bad_event = await client.patch("/v1/convai/settings", json={"webhooks": {"events": ["sms"]}})
    assert bad_event.status_code == 422
    # deleting the selected webhook clears the selection
    await client.delete(f"/v1/workspace/webhooks/{webhook_id}")
    assert (await client.get("/v1/convai/settings")).json()["webhooks"]["post_call_webhook_id"] is None


def test_the_sdk_registers_and_selects_a_webhook(live_server: str) -> None:
    sdk = ElevenLabs(api_key="test-key", base_url=live_server, timeout=10)
    created = sdk.webhooks.create(
        settings=WebhookHmacSettings(name="CRM", webhook_url="https://crm.test/hook")
    )
    assert created.webhook_id and created.webhook_secret
    listed = sdk.webhooks.list()
    assert [w.webhook_id for w in listed.webhooks] == [created.webhook_id]
    assert (
        listed.webhooks[0].webhook_url == "https://crm.test/hook" and listed.webhooks[0].auth_type == "hmac"
    )
    assert sdk.webhooks.update(created.webhook_id, is_disabled=True, name="CRM renamed").status == "ok"
    assert sdk.webhooks.list().webhooks[0].is_disabled is True

    sdk.webhooks.update(created.webhook_id, is_disabled=False, name="CRM")
    updated = sdk.conversational_ai.settings.update(
        webhooks=ConvAiWebhooks(post_call_webhook_id=created.webhook_id, events=["transcript", "audio"])
    )
    assert updated.webhooks is not None and updated.webhooks.post_call_webhook_id == created.webhook_id
    got = sdk.conversational_ai.settings.get()
    assert got.webhooks is not None and got.webhooks.events == ["transcript", "audio"]

    assert sdk.webhooks.delete(created.webhook_id).status == "ok"
    assert sdk.webhooks.list().webhooks == []
    with pytest.raises(ApiError) as wrong_key:
        ElevenLabs(api_key="wrong", base_url=live_server, timeout=10).webhooks.list()
    assert wrong_key.value.status_code == 401
