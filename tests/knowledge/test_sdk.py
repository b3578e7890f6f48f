"""The knowledge base through the official ``elevenlabs`` SDK against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import pytest
from elevenlabs import ElevenLabs
from elevenlabs.core.api_error import ApiError
from kb_samples import GLOBEX_KB, sample_docx

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]


def test_document_lifecycle_through_the_sdk(live_server: str) -> None:
    client = ElevenLabs(api_key="test-key", base_url=live_server, timeout=20)
    kb = client.conversational_ai.knowledge_base

    text_doc = kb.documents.create_from_text(text=GLOBEX_KB, name="Globex facts")
    assert text_doc.id.startswith("doc_") and text_doc.name == "Globex facts"
    file_doc = kb.documents.create_from_file(file=("handbook.docx", sample_docx()), name="Handbook")
    assert file_doc.name == "Handbook"

    got = kb.documents.get(text_doc.id)
    assert got.type == "text" and got.name == "Globex facts"
    assert got.metadata.size_bytes > 0 and "Pricing" in got.extracted_inner_html
    got_file = kb.documents.get(file_doc.id)
    assert got_file.type == "file" and got_file.filename == "handbook.docx"
    assert "three-year warranty" in kb.documents.get_content(file_doc.id)

    page = kb.list(page_size=1)
    assert [d.id for d in page.documents] == [file_doc.id] and page.has_more
    rest = kb.list(page_size=1, cursor=page.next_cursor)
    assert [d.id for d in rest.documents] == [text_doc.id] and not rest.has_more
    assert [d.name for d in kb.list(search="globex").documents] == ["Globex facts"]

    agent_id = client.conversational_ai.agents.create(
        name="Seller",
        conversation_config={"agent": {"prompt": {"prompt": "Sell.", "knowledge_base": [
            {"type": "text", "id": text_doc.id, "name": text_doc.name, "usage_mode": "auto"}]}}},
    ).agent_id
    assert [a.id for a in kb.documents.get_agents(text_doc.id).agents] == [agent_id]

    with pytest.raises(ApiError) as in_use:
        kb.documents.delete(text_doc.id)
    assert in_use.value.status_code == 409
    kb.documents.delete(text_doc.id, force=True)
    kb.documents.delete(file_doc.id)
    with pytest.raises(ApiError) as gone:
        kb.documents.get(text_doc.id)
    assert gone.value.status_code == 404
    assert kb.list().documents == []
