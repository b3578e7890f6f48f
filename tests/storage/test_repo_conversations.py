from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sdr_agent.storage.db import Database
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import conversations as repo
from sdr_agent.storage.repos.conversations import TurnRecord

pytestmark = pytest.mark.postgres


async def _agent(db: Database, name: str = "Alex") -> str:
    async with db.session() as s:
        return (await agents_repo.create_agent(s, name=name)).agent_id


async def test_create_and_read_back_by_id_and_call_sid(db: Database) -> None:
    agent_id = await _agent(db)
    async with db.session() as s:
        conv = await repo.create_conversation(
            s,
            agent_id=agent_id,
            direction="outbound",
            call_sid="CA" + "1" * 32,
            from_number="+15550000000",
            to_number="+15551234567",
            dynamic_variables={"customer_name": "Bob"},
            metadata={"source": "test"},
        )
    assert conv.conversation_id.startswith("conv_") and conv.status == "initiated"
    async with db.session() as s:
        by_id = await repo.get_conversation(s, conv.conversation_id)
        by_sid = await repo.get_conversation_by_call_sid(s, "CA" + "1" * 32)
    assert by_id is not None and by_sid is not None
    assert by_id.conversation_id == by_sid.conversation_id
    assert by_id.dynamic_variables == {"customer_name": "Bob"} and by_id.metadata == {"source": "test"}
    assert by_id.created_at.tzinfo is not None and by_id.turns == []


async def test_turns_get_sequential_seq_and_all_fields_round_trip(db: Database) -> None:
    agent_id = await _agent(db)
    async with db.session() as s:
        conv = await repo.create_conversation(s, agent_id=agent_id, direction="inbound")
    turns = [
        TurnRecord(
            role="agent",
            message="Hi, this is Alex.",
            time_in_call_secs=0.2,
            interrupted=True,
            latency_ms=180.5,
            bargein_detect_ms=95.0,
            metrics={"backchannels": 2},
        ),
        TurnRecord(
            role="user",
            message="What does it cost?",
            time_in_call_secs=2.7,
            intent="pricing",
            phase="discovery",
            sentiment=0.1,
            dtmf="1",
            tool_calls=[{"request_id": "r1", "tool_name": "book", "params_as_json": "{}"}],
            tool_results=[{"request_id": "r1", "tool_name": "book", "result_value": "ok", "is_error": False}],
        ),
    ]
    for expected_seq, turn in enumerate(turns):
        async with db.session() as s:
            assert await repo.append_turn(s, conv.conversation_id, turn) == expected_seq
    async with db.session() as s:
        stored = await repo.get_conversation(s, conv.conversation_id)
    assert stored is not None
    assert [t.seq for t in stored.turns] == [0, 1]
    for original, back in zip(turns, stored.turns, strict=True):
        original.seq = back.seq
        assert back == original


async def test_update_fields_and_merge_metadata(db: Database) -> None:
    async with db.session() as s:
        conv = await repo.create_conversation(
            s, agent_id=None, direction="outbound", metadata={"a": {"b": 1}}
        )
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with db.session() as s:
        assert await repo.update_conversation(
            s,
            conv.conversation_id,
            status="in-progress",
            stream_sid="MZ1",
            started_at=started,
            duration_secs=4.5,
        )
        assert await repo.merge_conversation_metadata(s, conv.conversation_id, {"a": {"c": 2}, "x": None})
        assert await repo.merge_conversation_metadata(s, conv.conversation_id, {"a": {"b": None}})
    async with db.session() as s:
        got = await repo.get_conversation(s, conv.conversation_id)
    assert got is not None
    assert (got.status, got.stream_sid, got.duration_secs) == ("in-progress", "MZ1", 4.5)
    assert got.started_at == started
    assert got.metadata == {"a": {"c": 2}}
    async with db.session() as s:
        assert await repo.update_conversation(s, "conv_missing", status="done") is False
        assert await repo.merge_conversation_metadata(s, "conv_missing", {"a": 1}) is False
        with pytest.raises(ValueError):
            await repo.update_conversation(s, conv.conversation_id, status="completed")
        with pytest.raises(ValueError):
            await repo.update_conversation(s, conv.conversation_id, created_at=started)


async def test_list_filters_counts_and_pages(db: Database) -> None:
    alex = await _agent(db, "Alex")
    bob = await _agent(db, "Bob")
    ids: list[str] = []
    async with db.session() as s:
        for i in range(5):
            conv = await repo.create_conversation(
                s, agent_id=alex if i % 2 == 0 else bob, direction="outbound"
            )
            ids.append(conv.conversation_id)
            for _ in range(i):
                await repo.append_turn(s, conv.conversation_id, TurnRecord("user", "hi", float(i)))
    async with db.session() as s:
        page = await repo.list_conversations(s, agent_id=alex, page_size=2)
        assert [x.conversation.conversation_id for x in page.items] == [ids[4], ids[2]]
        assert [x.message_count for x in page.items] == [4, 2]
        assert {x.agent_name for x in page.items} == {"Alex"}
        assert page.has_more and page.next_cursor
        rest = await repo.list_conversations(s, agent_id=alex, page_size=2, cursor=page.next_cursor)
        assert [x.conversation.conversation_id for x in rest.items] == [ids[0]]
        assert not rest.has_more and rest.next_cursor is None
        everything = await repo.list_conversations(s)
        assert [x.conversation.conversation_id for x in everything.items] == list(reversed(ids))
        future = datetime.now(UTC) + timedelta(hours=1)
        assert (await repo.list_conversations(s, created_after=future)).items == []


async def test_delete_removes_turns_and_agent_delete_keeps_conversation(db: Database) -> None:
    agent_id = await _agent(db)
    async with db.session() as s:
        keep = await repo.create_conversation(s, agent_id=agent_id, direction="outbound")
        drop = await repo.create_conversation(s, agent_id=agent_id, direction="outbound")
        await repo.append_turn(s, drop.conversation_id, TurnRecord("user", "bye", 1.0))
    async with db.session() as s:
        assert await repo.delete_conversation(s, drop.conversation_id) is True
        assert await repo.delete_conversation(s, drop.conversation_id) is False
        assert await repo.list_turns(s, drop.conversation_id) == []
        assert await agents_repo.delete_agent(s, agent_id)
    async with db.session() as s:
        kept = await repo.get_conversation(s, keep.conversation_id)
    assert kept is not None and kept.agent_id is None
