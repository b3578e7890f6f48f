"""Attach knowledge documents to agents (``conversation_config.agent.prompt.knowledge_base``), detach them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import knowledge as knowledge_repo
from sdr_agent.storage.repos.jsonmerge import get_path
from sdr_agent.storage.repos.knowledge import KNOWLEDGE_BASE_PATH, KnowledgeDocument, attached_document_ids


def attachment_entry(document: KnowledgeDocument) -> dict[str, Any]:
    return {
        "type": document.doc_type, "id": document.document_id, "name": document.name, "usage_mode": "auto"
    }


def _entries(config: dict[str, Any]) -> list[Any]:
    entries = get_path(config, *KNOWLEDGE_BASE_PATH, default=[])
    return list(entries) if isinstance(entries, list) else []


def _knowledge_base_patch(entries: list[Any]) -> dict[str, Any]:
    # Lists replace wholesale in the agents repo's deep merge, so this sets exactly ``entries``.
    return {"agent": {"prompt": {"knowledge_base": entries}}}


async def attach_documents(
    session: AsyncSession, agent_id: str, documents: Sequence[KnowledgeDocument]
) -> list[str] | None:
    """Add the documents to the agent's knowledge base (already attached ones are left as they are).
    Returns the agent's attached ids afterwards, or None when the agent does not exist."""
    agent = await agents_repo.get_agent(session, agent_id)
    if agent is None:
        return None
    entries = _entries(agent.conversation_config)
    present = set(attached_document_ids(agent.conversation_config))
    added = [attachment_entry(d) for d in documents if d.document_id not in present]
    if added:
        updated = await agents_repo.update_agent(
            session, agent_id, conversation_config=_knowledge_base_patch(entries + added)
        )
        if updated is None:
            return None
        return attached_document_ids(updated.conversation_config)
    return attached_document_ids(agent.conversation_config)


async def detach_document(session: AsyncSession, document_id: str) -> list[str]:
    """Remove the document from every agent that attaches it. Returns those agents' ids."""
    dependents = (await knowledge_repo.dependent_agents(session, [document_id]))[document_id]
    for dependent in dependents:
        agent = await agents_repo.get_agent(session, dependent.agent_id)
        if agent is None:
            continue
        kept = [e for e in _entries(agent.conversation_config)
                if not (isinstance(e, dict) and e.get("id") == document_id)]
        patch = _knowledge_base_patch(kept)
        await agents_repo.update_agent(session, dependent.agent_id, conversation_config=patch)
    return [d.agent_id for d in dependents]


async def agent_document_ids(session: AsyncSession, agent_id: str) -> list[str] | None:
    """The documents an agent may retrieve from, or None when the agent does not exist."""
    agent = await agents_repo.get_agent(session, agent_id)
    return None if agent is None else attached_document_ids(agent.conversation_config)
