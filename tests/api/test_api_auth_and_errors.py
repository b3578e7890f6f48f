from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.postgres


def _v1_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/v1"):
            routes.extend((method.upper(), re.sub(r"\{[^}]+\}", "x", path)) for method in operations)
    return routes


async def test_every_v1_route_needs_the_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    routes = _v1_routes(app)
    assert ("POST", "/v1/convai/agents/create") in routes and ("GET", "/v1/convai/phone-numbers") in routes
    for headers in ({}, {"xi-api-key": "wrong-key"}, {"xi-api-key": ""}):
        for method, path in routes:
            r = await client.request(method, path, headers={"xi-api-key": ""} | headers)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json() == {"detail": "missing or invalid xi-api-key header"}


async def test_healthz_is_public_and_reports_the_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"xi-api-key": ""})
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": True}


async def test_healthz_degraded_when_database_is_down(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> bool:
        return False

    monkeypatch.setattr(app.state.services.db, "ping", broken)
    r = await client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "degraded", "database": False}


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"conversation_config": {"agent": {"prompt": {"prompt": "' + b"x" * (1024 * 1024) + b'"}}}}'
    r = await client.post(
        "/v1/convai/agents/create", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "detail" in r.json()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    r = await client.post("/v1/convai/agents", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "exceeds" in r.json()["detail"]
    ok = await client.post("/v1/convai/agents", json={"name": "small"})
    assert ok.status_code == 200


async def test_unknown_ids_are_404_with_the_id(client: httpx.AsyncClient) -> None:
    for path in (
        "/v1/convai/agents/agent_missing1",
        "/v1/convai/conversations/conv_missing2",
        "/v1/convai/phone-numbers/phnum_missing3",
    ):
        r = await client.get(path)
        assert r.status_code == 404
        assert path.rsplit("/", 1)[1] in r.json()["detail"]


async def test_errors_never_carry_a_stack_trace(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdr_agent.storage.repos import agents as agents_repo

    async def explode(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(agents_repo, "get_agent", explode)
    # Starlette re-raises after answering 500 (for the server's log); a real client only sees the response.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=dict(client.headers)
    ) as plain:
        r = await plain.get("/v1/convai/agents/agent_x")
    assert r.status_code == 500 and r.json() == {"detail": "internal server error"}
    assert "Traceback" not in r.text and "passwd" not in r.text


async def test_openapi_and_docs_need_the_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json", headers={"xi-api-key": ""})).status_code == 401
    assert (await client.get("/docs", headers={"xi-api-key": ""})).status_code == 401
    schema = (await client.get("/openapi.json")).json()
    assert "/v1/convai/agents/create" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "xi-api-key"
    page = await client.get("/docs", params={"api_key": "test-key"}, headers={"xi-api-key": ""})
    assert page.status_code == 200 and "swagger" in page.text.lower()
