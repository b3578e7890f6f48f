from __future__ import annotations

import pytest
from sqlalchemy import select

from sdr_agent.storage.db import Database
from sdr_agent.storage.models import AgentRow
from sdr_agent.storage.repos import agents as repo
from sdr_agent.storage.repos.pagination import InvalidCursorError

pytestmark = pytest.mark.postgres


async def test_create_keeps_flat_columns_in_step_with_config(db: Database) -> None:
    config = repo.flat_config(
        system_prompt="Be brief.", first_message="Hi!", voice_id="v1", interrupt_enabled=False
    )
    async with db.session() as s:
        agent = await repo.create_agent(s, name="Alex", conversation_config=config, tags=["sales"])
    assert agent.agent_id.startswith("agent_")
    assert (agent.system_prompt, agent.first_message, agent.voice_id, agent.interrupt_enabled) == (
        "Be brief.",
        "Hi!",
        "v1",
        False,
    )
    assert agent.created_at.tzinfo is not None and agent.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    async with db.session() as s:
        row = await s.scalar(select(AgentRow).where(AgentRow.agent_id == agent.agent_id))
    assert row is not None
    assert (row.system_prompt, row.first_message, row.voice_id, row.interrupt_enabled) == (
        "Be brief.",
        "Hi!",
        "v1",
        False,
    )


async def test_update_deep_merges_and_null_deletes(db: Database) -> None:
    async with db.session() as s:
        agent = await repo.create_agent(
            s,
            name="A",
            conversation_config={
                "agent": {"first_message": "Hi", "prompt": {"prompt": "p", "llm": "x"}},
                "tts": {"voice_id": "v1"},
            },
            platform_settings={"evaluation": {"criteria": []}, "data_collection": {"x": 1}},
        )
    async with db.session() as s:
        updated = await repo.update_agent(
            s,
            agent.agent_id,
            conversation_config={
                "agent": {"prompt": {"llm": None, "temperature": 0.2}},
                "tts": {"voice_id": "v2"},
            },
            platform_settings={"data_collection": None},
        )
    assert updated is not None
    assert updated.conversation_config == {
        "agent": {"first_message": "Hi", "prompt": {"prompt": "p", "temperature": 0.2}},
        "tts": {"voice_id": "v2"},
    }
    assert updated.platform_settings == {"evaluation": {"criteria": []}}
    assert updated.updated_at >= agent.updated_at
    async with db.session() as s:
        row = await s.get(AgentRow, agent.agent_id)
        assert row is not None and row.voice_id == "v2" and row.first_message == "Hi"
        again = await repo.get_agent(s, agent.agent_id)
    assert again is not None and again.conversation_config == updated.conversation_config


async def test_defaults_of_convenience_properties(db: Database) -> None:
    async with db.session() as s:
        agent = await repo.create_agent(s, name="Bare")
    assert agent.interrupt_enabled is True
    assert agent.system_prompt == "" and agent.first_message == "" and agent.voice_id is None
    assert agent.language == "en"


async def test_list_is_newest_first_with_cursor_and_search(db: Database) -> None:
    names = ["Alex", "bob", "Sally", "ALPHA", "100%_fun"]
    async with db.session() as s:
        for name in names:
            await repo.create_agent(s, name=name)
    seen: list[str] = []
    cursor = None
    async with db.session() as s:
        while True:
            page = await repo.list_agents(s, page_size=2, cursor=cursor)
            seen.extend(a.name for a in page.items)
            if not page.has_more:
                assert page.next_cursor is None
                break
            assert page.next_cursor and len(page.items) == 2
            cursor = page.next_cursor
        assert seen == list(reversed(names))
        found = await repo.list_agents(s, search="al")
        assert [a.name for a in found.items] == ["ALPHA", "Sally", "Alex"]
        assert [a.name for a in (await repo.list_agents(s, search="%_")).items] == ["100%_fun"]
        assert (await repo.list_agents(s, search="_x")).items == []


async def test_bad_cursor_and_page_size_are_rejected(db: Database) -> None:
    async with db.session() as s:
        with pytest.raises(InvalidCursorError):
            await repo.list_agents(s, cursor="not-a-cursor")
        with pytest.raises(ValueError):
            await repo.list_agents(s, page_size=0)
        with pytest.raises(ValueError):
            await repo.list_agents(s, page_size=101)


async def test_delete(db: Database) -> None:
    async with db.session() as s:
        agent = await repo.create_agent(s, name="Gone")
    async with db.session() as s:
        assert await repo.delete_agent(s, agent.agent_id) is True
        assert await repo.delete_agent(s, agent.agent_id) is False
        assert await repo.get_agent(s, agent.agent_id) is None
        assert await repo.update_agent(s, agent.agent_id, name="x") is None
