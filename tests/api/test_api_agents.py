from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.postgres

EL_CONFIG = {
    "agent": {
        "first_message": "Hi {{customer_name}}, this is Alex from Acme.",
        "language": "en",
        "prompt": {"prompt": "You are Alex.", "llm": "gpt-4o-mini", "temperature": 0.3},
    },
    "tts": {"voice_id": "voice-1", "agent_output_audio_format": "ulaw_8000"},
    "turn": {"turn_timeout": 7},
}


async def test_elevenlabs_shape_create_then_get(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/convai/agents/create",
        json={
            "name": "SDR Alex",
            "tags": ["sales"],
            "conversation_config": EL_CONFIG,
            "platform_settings": {"evaluation": {"criteria": []}},
        },
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"agent_id"}
    agent_id = r.json()["agent_id"]
    got = (await client.get(f"/v1/convai/agents/{agent_id}")).json()
    assert got["agent_id"] == agent_id and got["name"] == "SDR Alex" and got["tags"] == ["sales"]
    assert got["conversation_config"] == EL_CONFIG
    assert got["platform_settings"] == {"evaluation": {"criteria": []}}
    assert got["metadata"]["created_at_unix_secs"] > 0
    assert got["metadata"]["updated_at_unix_secs"] >= got["metadata"]["created_at_unix_secs"]
    assert (got["system_prompt"], got["first_message"], got["voice_id"], got["interrupt_enabled"]) == (
        "You are Alex.",
        "Hi {{customer_name}}, this is Alex from Acme.",
        "voice-1",
        True,
    )


async def test_seed_flat_shape_maps_onto_conversation_config(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/convai/agents",
        json={
            "name": "Seed",
            "system_prompt": "Sell.",
            "first_message": "Hello!",
            "voice_id": "v9",
            "interrupt_enabled": False,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conversation_config"] == {
        "agent": {"prompt": {"prompt": "Sell."}, "first_message": "Hello!"},
        "tts": {"voice_id": "v9"},
        "turn": {"interrupt_enabled": False},
    }
    got = (await client.get(f"/v1/convai/agents/{body['agent_id']}")).json()
    assert got["conversation_config"] == body["conversation_config"]
    assert (
        got["name"],
        got["system_prompt"],
        got["first_message"],
        got["voice_id"],
        got["interrupt_enabled"],
    ) == (
        "Seed",
        "Sell.",
        "Hello!",
        "v9",
        False,
    )


async def test_patch_deep_merges_and_null_deletes(client: httpx.AsyncClient) -> None:
    agent_id = (
        await client.post("/v1/convai/agents/create", json={"conversation_config": EL_CONFIG})
    ).json()["agent_id"]
    r = await client.patch(
        f"/v1/convai/agents/{agent_id}",
        json={
            "name": "Renamed",
            "conversation_config": {
                "agent": {"prompt": {"llm": None, "temperature": 0.7}},
                "tts": {"voice_id": "voice-2"},
                "turn": {"interrupt_enabled": False},
            },
        },
    )
    assert r.status_code == 200, r.text
    config = r.json()["conversation_config"]
    assert config["agent"]["prompt"] == {"prompt": "You are Alex.", "temperature": 0.7}
    assert config["agent"]["first_message"] == EL_CONFIG["agent"]["first_message"]  # type: ignore[index]
    assert config["tts"] == {"voice_id": "voice-2", "agent_output_audio_format": "ulaw_8000"}
    assert config["turn"] == {"turn_timeout": 7, "interrupt_enabled": False}
    got = (await client.get(f"/v1/convai/agents/{agent_id}")).json()
    assert got["name"] == "Renamed" and got["conversation_config"] == config
    assert got["voice_id"] == "voice-2" and got["interrupt_enabled"] is False
    # The seed's flat fields work on PATCH as well.
    flat = await client.patch(f"/v1/convai/agents/{agent_id}", json={"first_message": "Yo"})
    assert flat.json()["conversation_config"]["agent"]["first_message"] == "Yo"
    assert flat.json()["conversation_config"]["agent"]["prompt"]["prompt"] == "You are Alex."


async def test_list_pages_with_cursor_and_searches(client: httpx.AsyncClient) -> None:
    names = ["Alex", "Bob", "Sally", "Alfred", "Zed"]
    ids = [(await client.post("/v1/convai/agents", json={"name": n})).json()["agent_id"] for n in names]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"page_size": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/convai/agents", params=params)).json()
        assert set(page) == {"agents", "next_cursor", "has_more"}
        seen.extend(a["agent_id"] for a in page["agents"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))
    item = (await client.get("/v1/convai/agents", params={"page_size": 1})).json()["agents"][0]
    for key in (
        "agent_id",
        "name",
        "voice_id",
        "tags",
        "created_at_unix_secs",
        "updated_at_unix_secs",
        "access_info",
    ):
        assert key in item
    found = (await client.get("/v1/convai/agents", params={"search": "AL"})).json()["agents"]
    assert [a["name"] for a in found] == ["Alfred", "Sally", "Alex"]
    default_page = (await client.get("/v1/convai/agents")).json()
    assert len(default_page["agents"]) == 5 and default_page["has_more"] is False


async def test_delete_then_404(client: httpx.AsyncClient) -> None:
    agent_id = (await client.post("/v1/convai/agents", json={"name": "Tmp"})).json()["agent_id"]
    r = await client.delete(f"/v1/convai/agents/{agent_id}")
    assert r.status_code == 200 and r.json() == {}
    for method in ("GET", "PATCH", "DELETE"):
        missing = await client.request(
            method, f"/v1/convai/agents/{agent_id}", json={} if method == "PATCH" else None
        )
        assert missing.status_code == 404
        assert agent_id in missing.json()["detail"]


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/convai/agents/create", json={"name": "x"})
    assert r.status_code == 422
    assert ["body", "conversation_config"] in [e["loc"] for e in r.json()["detail"]]
    r = await client.post("/v1/convai/agents", json={"name": "", "interrupt_enabled": "maybe"})
    locs = [e["loc"] for e in r.json()["detail"]]
    assert r.status_code == 422 and ["body", "name"] in locs and ["body", "interrupt_enabled"] in locs
    r = await client.post("/v1/convai/agents/create", json={"conversation_config": "not an object"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "conversation_config"]
    for params in ({"page_size": 0}, {"page_size": 101}, {"page_size": "ten"}):
        r = await client.get("/v1/convai/agents", params=params)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "page_size"]
    r = await client.get("/v1/convai/agents", params={"cursor": "garbage"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "cursor"]
    r = await client.post(
        "/v1/convai/agents/create", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "detail" in r.json()
