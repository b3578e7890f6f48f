from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from kb_samples import GLOBEX_KB, SAMPLE_HTML, minimal_pdf, sample_docx

from sdr_agent.knowledge.store import knowledge_store
from sdr_agent.services import Services
from sdr_agent.storage.repos.knowledge import attached_document_ids

pytestmark = pytest.mark.postgres

KB = "/v1/convai/knowledge-base"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def _upload(client: httpx.AsyncClient, filename: str, data: bytes, content_type: str,
                  name: str | None = None) -> httpx.Response:
    form = {"name": name} if name else {}
    return await client.post(f"{KB}/file", files={"file": (filename, data, content_type)}, data=form)


async def _create_agent(client: httpx.AsyncClient, name: str, knowledge_base: list[dict[str, Any]]) -> str:
    body = {"name": name, "conversation_config": {"agent": {"prompt": {"prompt": "Sell.",
                                                                       "knowledge_base": knowledge_base}}}}
    response = await client.post("/v1/convai/agents/create", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["agent_id"])


async def _agent_docs(client: httpx.AsyncClient, agent_id: str) -> list[str]:
    agent = (await client.get(f"/v1/convai/agents/{agent_id}")).json()
    return attached_document_ids(agent["conversation_config"])


async def test_text_document_round_trip(client: httpx.AsyncClient, app: FastAPI) -> None:
    created = await client.post(f"{KB}/text", json={"text": GLOBEX_KB, "name": "Globex"})
    assert created.status_code == 200, created.text
    doc_id = created.json()["id"]
    assert created.json()["name"] == "Globex" and doc_id.startswith("doc_")

    got = (await client.get(f"{KB}/{doc_id}")).json()
    assert got["type"] == "text" and got["id"] == doc_id and got["name"] == "Globex"
    assert got["metadata"]["size_bytes"] == len(GLOBEX_KB.strip().encode())
    assert got["metadata"]["created_at_unix_secs"] > 1_600_000_000
    assert got["supported_usages"] == ["prompt", "auto"] and got["access_info"]["is_creator"] is True
    assert "<h2>Pricing</h2>" in got["extracted_inner_html"]
    assert got["chunk_count"] == 8
    assert await knowledge_store(_services(app)).count_chunks(doc_id) == 8


@pytest.mark.parametrize(
    ("filename", "content_type", "payload", "phrase"),
    [
        ("notes.txt", "text/plain", b"The office closes at noon on Fridays.", "closes at noon"),
        ("facts.md", "text/markdown", b"# Facts\n\n## Parking\nVisitors **park** in the blue garage.",
         "blue garage"),
        ("faq.html", "text/html", SAMPLE_HTML.encode(), "eleven hours"),
        ("policy.pdf", "application/pdf", minimal_pdf(["Refunds are paid within 10 days."]),
         "within 10 days"),
        ("handbook.docx", DOCX_TYPE, sample_docx(), "three-year warranty"),
    ],
)
async def test_each_file_type_is_ingested_and_retrievable(
    client: httpx.AsyncClient, app: FastAPI, filename: str, content_type: str, payload: bytes, phrase: str
) -> None:
    response = await _upload(client, filename, payload, content_type)
    assert response.status_code == 200, response.text
    doc_id = response.json()["id"]
    got = (await client.get(f"{KB}/{doc_id}")).json()
    assert got["type"] == "file" and got["filename"] == filename
    assert got["metadata"]["size_bytes"] == len(payload)
    assert phrase in got["extracted_inner_html"]
    passages = await knowledge_store(_services(app)).query(phrase, [doc_id], k=1)
    assert phrase in passages[0].text


async def test_file_name_defaults_to_title_or_filename_unless_given(client: httpx.AsyncClient) -> None:
    titled = await _upload(client, "faq.html", SAMPLE_HTML.encode(), "text/html")
    assert titled.json()["name"] == "Gizmo FAQ"
    plain = await _upload(client, "notes.txt", b"Some fact.", "text/plain")
    assert plain.json()["name"] == "notes.txt"
    named = await _upload(client, "notes.txt", b"Some fact.", "text/plain", name="Office notes")
    assert named.json()["name"] == "Office notes"


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("sheet.xlsx", "application/vnd.ms-excel"), ("photo.png", "image/png"), ("blob", "application/zip")],
)
async def test_unsupported_file_types_get_415(
    client: httpx.AsyncClient, filename: str, content_type: str
) -> None:
    response = await _upload(client, filename, b"PK\x03\x04 whatever", content_type)
    assert response.status_code == 415
    assert "unsupported" in response.json()["detail"]


async def test_files_over_20_mib_get_413(client: httpx.AsyncClient) -> None:
    response = await _upload(client, "huge.txt", b"a" * (20 * 1024 * 1024 + 1), "text/plain")
    assert response.status_code == 413
    assert (await client.get(KB)).json()["documents"] == []


async def test_unreadable_or_empty_documents_get_400(client: httpx.AsyncClient) -> None:
    corrupt = await _upload(client, "broken.pdf", b"%PDF-1.4 garbage", "application/pdf")
    assert corrupt.status_code == 400 and "PDF" in corrupt.json()["detail"]
    empty = await _upload(client, "empty.txt", b"  \n ", "text/plain")
    assert empty.status_code == 400
    blank_text = await client.post(f"{KB}/text", json={"text": "   ", "name": "blank"})
    assert blank_text.status_code == 400
    missing = await client.post(f"{KB}/text", json={"name": "no text"})
    assert missing.status_code == 422


async def test_url_documents(client: httpx.AsyncClient, web_server: str) -> None:
    response = await client.post(f"{KB}/url", json={"url": f"{web_server}/page.html"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Gizmo FAQ"
    got = (await client.get(f"{KB}/{response.json()['id']}")).json()
    assert got["type"] == "url" and got["url"] == f"{web_server}/page.html"
    assert "eleven hours" in got["extracted_inner_html"] and "secret" not in got["extracted_inner_html"]

    body = {"url": f"{web_server}/redirect", "name": "Via redirect"}
    redirected = await client.post(f"{KB}/url", json=body)
    assert redirected.status_code == 200 and redirected.json()["name"] == "Via redirect"
    text = await client.post(f"{KB}/url", json={"url": f"{web_server}/notes.txt"})
    assert text.status_code == 200


async def test_url_failures_are_clear_errors(
    client: httpx.AsyncClient, app: FastAPI, web_server: str
) -> None:
    settings = _services(app).settings
    settings.knowledge.url_max_bytes = 1000
    settings.knowledge.url_timeout_s = 0.5
    cases = {
        f"{web_server}/missing": 400,
        f"{web_server}/big.html": 413,
        f"{web_server}/image.png": 415,
        f"{web_server}/slow": 400,
    }
    for url, status in cases.items():
        response = await client.post(f"{KB}/url", json={"url": url})
        assert response.status_code == status, (url, response.text)
        assert isinstance(response.json()["detail"], str)
    # Other schemes are SSRF attempts: refused as invalid input, pointing at the field.
    for url in ("ftp://example.com/file.txt", "file:///etc/passwd"):
        response = await client.post(f"{KB}/url", json={"url": url})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "url"]
    assert (await client.get(KB)).json()["documents"] == []


async def test_list_search_types_and_pagination(client: httpx.AsyncClient) -> None:
    for name in ("Pricing sheet", "Security FAQ", "pricing notes"):
        created = await client.post(f"{KB}/text", json={"text": f"{name} body.", "name": name})
        assert created.status_code == 200
    await _upload(client, "file.txt", b"A file.", "text/plain")

    listed = (await client.get(KB)).json()
    names = [d["name"] for d in listed["documents"]]
    assert names == ["file.txt", "pricing notes", "Security FAQ", "Pricing sheet"]
    assert listed["has_more"] is False and listed["next_cursor"] is None
    item = listed["documents"][0]
    required = {"type", "id", "name", "metadata", "supported_usages", "access_info", "dependent_agents"}
    assert required <= set(item)

    searched = (await client.get(KB, params={"search": "PRICING"})).json()
    assert sorted(d["name"] for d in searched["documents"]) == ["Pricing sheet", "pricing notes"]
    files = (await client.get(KB, params={"types": "file"})).json()
    assert [d["name"] for d in files["documents"]] == ["file.txt"]

    first = (await client.get(KB, params={"page_size": 3})).json()
    assert first["has_more"] is True and len(first["documents"]) == 3
    second = (await client.get(KB, params={"page_size": 3, "cursor": first["next_cursor"]})).json()
    assert [d["name"] for d in second["documents"]] == ["Pricing sheet"] and second["has_more"] is False
    assert (await client.get(KB, params={"cursor": "garbage!"})).status_code == 422
    assert (await client.get(KB, params={"page_size": 0})).status_code == 422


async def test_unknown_documents_get_404(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{KB}/doc_nope")).status_code == 404
    assert (await client.delete(f"{KB}/doc_nope")).status_code == 404
    assert (await client.get(f"{KB}/doc_nope/dependent-agents")).status_code == 404


async def test_routes_need_the_api_key(client: httpx.AsyncClient) -> None:
    response = await client.get(KB, headers={"xi-api-key": "wrong"})
    assert response.status_code == 401
    response = await client.post(f"{KB}/text", json={"text": "x"}, headers={"xi-api-key": ""})
    assert response.status_code == 401


async def test_agents_only_retrieve_documents_they_attach(client: httpx.AsyncClient, app: FastAPI) -> None:
    doc_a = (await client.post(f"{KB}/text", json={"text": "## Parking\nVisitors park in the blue garage.",
                                                   "name": "A facts"})).json()
    doc_b = (await client.post(f"{KB}/text", json={"text": "## Lunch\nThe cafeteria serves lunch at noon.",
                                                   "name": "B facts"})).json()
    agent_a = await _create_agent(client, "A", [{"type": "text", **doc_a}])
    agent_b = await _create_agent(client, "B", [{"type": "text", **doc_b}])
    store = knowledge_store(_services(app))

    seen_by_b = await store.query("Where can visitors park?", await _agent_docs(client, agent_b), k=3)
    assert all(p.source_id.startswith(doc_b["id"]) for p in seen_by_b)
    assert not any("garage" in p.text for p in seen_by_b)
    seen_by_a = await store.query("Where can visitors park?", await _agent_docs(client, agent_a), k=3)
    assert "blue garage" in seen_by_a[0].text and seen_by_a[0].document_name == "A facts"

    dependents = (await client.get(f"{KB}/{doc_a['id']}/dependent-agents")).json()
    assert [a["id"] for a in dependents["agents"]] == [agent_a]
    listed = {d["id"]: d for d in (await client.get(KB)).json()["documents"]}
    assert [a["id"] for a in listed[doc_b["id"]]["dependent_agents"]] == [agent_b]


async def test_delete_removes_chunks_and_respects_attachments(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    store = knowledge_store(_services(app))
    doc = (await client.post(f"{KB}/text", json={"text": GLOBEX_KB, "name": "Globex"})).json()
    free = (await client.post(f"{KB}/text", json={"text": "## X\nUnattached fact.", "name": "Free"})).json()
    other = {"type": "text", "id": "doc_other", "name": "Other"}
    agent = await _create_agent(client, "Seller", [{"type": "text", **doc}, other])

    assert (await client.delete(f"{KB}/{free['id']}")).status_code == 200
    assert await store.count_chunks(free["id"]) == 0

    refused = await client.delete(f"{KB}/{doc['id']}")
    assert refused.status_code == 409 and agent in refused.json()["detail"]
    assert await store.count_chunks(doc["id"]) == 8

    forced = await client.delete(f"{KB}/{doc['id']}", params={"force": "true"})
    assert forced.status_code == 200 and forced.json() == {}
    assert await store.count_chunks(doc["id"]) == 0
    assert (await client.get(f"{KB}/{doc['id']}")).status_code == 404
    assert await _agent_docs(client, agent) == ["doc_other"]
