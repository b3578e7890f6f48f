from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.postgres

SECRET_TOKEN = "twilio-token-DO-NOT-LEAK-123"


def _import_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "provider": "twilio",
        "phone_number": "+15550001111",
        "label": "Main",
        "sid": "AC" + "1" * 32,
        "token": SECRET_TOKEN,
    }
    body.update(overrides)
    return body


async def test_import_list_get_assign_delete_never_leaks_token(client: httpx.AsyncClient) -> None:
    agent_id = (await client.post("/v1/convai/agents", json={"name": "Alex"})).json()["agent_id"]
    created = await client.post("/v1/convai/phone-numbers", json=_import_body())
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"phone_number_id"}
    number_id = created.json()["phone_number_id"]
    responses = [created]

    listed = await client.get("/v1/convai/phone-numbers")
    responses.append(listed)
    assert isinstance(listed.json(), list) and len(listed.json()) == 1
    item = listed.json()[0]
    assert item["provider"] == "twilio" and item["assigned_agent"] is None
    assert (item["phone_number_id"], item["phone_number"], item["label"]) == (
        number_id,
        "+15550001111",
        "Main",
    )

    assigned = await client.patch(f"/v1/convai/phone-numbers/{number_id}", json={"agent_id": agent_id})
    responses.append(assigned)
    assert assigned.json()["assigned_agent"] == {"agent_id": agent_id, "agent_name": "Alex"}
    got = await client.get(f"/v1/convai/phone-numbers/{number_id}")
    responses.append(got)
    assert got.json()["assigned_agent"] == {"agent_id": agent_id, "agent_name": "Alex"}
    agent = await client.get(f"/v1/convai/agents/{agent_id}")
    responses.append(agent)
    assert [n["phone_number_id"] for n in agent.json()["phone_numbers"]] == [number_id]
    relabel = await client.patch(f"/v1/convai/phone-numbers/{number_id}", json={"label": "Sales"})
    responses.append(relabel)
    assert relabel.json()["label"] == "Sales" and relabel.json()["assigned_agent"]["agent_id"] == agent_id
    unassigned = await client.patch(f"/v1/convai/phone-numbers/{number_id}", json={"agent_id": None})
    responses.append(unassigned)
    assert unassigned.json()["assigned_agent"] is None

    for response in responses:
        assert SECRET_TOKEN not in response.text
        assert "token" not in response.text
    deleted = await client.delete(f"/v1/convai/phone-numbers/{number_id}")
    assert deleted.status_code == 200
    missing = await client.get(f"/v1/convai/phone-numbers/{number_id}")
    assert missing.status_code == 404 and number_id in missing.json()["detail"]


async def test_import_with_agent_and_filters(client: httpx.AsyncClient) -> None:
    agent_id = (await client.post("/v1/convai/agents", json={"name": "Alex"})).json()["agent_id"]
    await client.post("/v1/convai/phone-numbers", json=_import_body(agent_id=agent_id))
    await client.post("/v1/convai/phone-numbers", json=_import_body(phone_number="+442071234567", label="UK"))
    mine = (await client.get("/v1/convai/phone-numbers", params={"agent_id": agent_id})).json()
    assert [n["phone_number"] for n in mine] == ["+15550001111"]
    assert mine[0]["assigned_agent"]["agent_name"] == "Alex"
    assert len((await client.get("/v1/convai/phone-numbers")).json()) == 2


async def test_rejections(client: httpx.AsyncClient) -> None:
    for bad_number in ("5550001111", "+0123456789", "+1 555 000 1111", "+1555abc1111", "+1" + "2" * 20):
        r = await client.post("/v1/convai/phone-numbers", json=_import_body(phone_number=bad_number))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "phone_number"], bad_number
        assert SECRET_TOKEN not in r.text
    r = await client.post("/v1/convai/phone-numbers", json=_import_body(provider="exotel"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "provider"]
    r = await client.post("/v1/convai/phone-numbers", json={"phone_number": "+15550001111", "label": "x"})
    assert r.status_code == 422 and {tuple(e["loc"]) for e in r.json()["detail"]} == {
        ("body", "sid"),
        ("body", "token"),
    }
    r = await client.post("/v1/convai/phone-numbers", json=_import_body(agent_id="agent_nope"))
    assert r.status_code == 404 and "agent_nope" in r.json()["detail"]
    assert (await client.post("/v1/convai/phone-numbers", json=_import_body())).status_code == 200
    dup = await client.post("/v1/convai/phone-numbers", json=_import_body())
    assert dup.status_code == 409 and "+15550001111" in dup.json()["detail"]
    number_id = (await client.get("/v1/convai/phone-numbers")).json()[0]["phone_number_id"]
    r = await client.patch(f"/v1/convai/phone-numbers/{number_id}", json={"agent_id": "agent_nope"})
    assert r.status_code == 404 and "agent_nope" in r.json()["detail"]
    r = await client.patch("/v1/convai/phone-numbers/phnum_nope", json={"label": "x"})
    assert r.status_code == 404 and "phnum_nope" in r.json()["detail"]
