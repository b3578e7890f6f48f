"""Every request body and query is bounded before a route parses it: JSON depth, query length, body size."""

from __future__ import annotations

import json

import httpx
import pytest

from sdr_agent.api.limits import json_depth_exceeds

pytestmark = pytest.mark.postgres


def test_json_depth_counts_structure_not_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[{{{{{{{{{{"}', 3)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[[[[["}', 3)
    assert json_depth_exceeds(b'{"a": [[[1]]]}', 3)
    assert not json_depth_exceeds(b'{"a": [[1]], "b": [[2]], "c": {"d": [3]}}', 3)
    assert json_depth_exceeds(b"[" * 100_000, 32)


async def test_deep_json_on_any_route_is_422(client: httpx.AsyncClient) -> None:
    deep = '{"a":' * 40 + "1" + "}" * 40
    for path in ("/v1/convai/agents/create", "/v1/workspace/webhooks", "/v1/convai/phone-numbers"):
        r = await client.post(path, content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"], (path, r.text)
    # 30 levels inside a string value are just text.
    body = {"name": "nested", "system_prompt": "[" * 500}
    assert (await client.post("/v1/convai/agents", json=body)).status_code == 200


async def test_long_query_strings_are_422(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/convai/agents", params={"search": "x" * 5000})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query"]
    assert (await client.get("/v1/convai/agents", params={"search": "x" * 200})).status_code == 200


async def test_openapi_documents_the_errors_each_route_gives(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    get_agent = schema["paths"]["/v1/convai/agents/{agent_id}"]["get"]["responses"]
    assert {"401", "404", "422", "429"} <= set(get_agent)
    assert "Retry-After" in get_agent["429"]["headers"]
    create = schema["paths"]["/v1/convai/agents/create"]["post"]["responses"]
    assert {"401", "413", "422", "429"} <= set(create)
    upload = schema["paths"]["/v1/convai/knowledge-base/file"]["post"]["responses"]
    assert {"413", "415"} <= set(upload)
    assert {"403", "429"} <= set(schema["paths"]["/twiml/voice_inbound"]["post"]["responses"])
    assert json.dumps(schema["components"]["schemas"]["ErrorResponse"])
