from __future__ import annotations

import pytest

from sdr_agent.storage.db import Database
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos import phone_numbers as repo

pytestmark = pytest.mark.postgres


async def test_import_assign_unassign_and_lookup(db: Database) -> None:
    async with db.session() as s:
        agent = await agents_repo.create_agent(s, name="Alex")
        number = await repo.create_phone_number(
            s, phone_number="+15550001111", label="Main", twilio_sid="AC1", twilio_token="tok-secret"
        )
    assert number.phone_number_id.startswith("phnum_") and number.agent_id is None
    assert "tok-secret" not in repr(number)
    async with db.session() as s:
        assigned = await repo.update_phone_number(s, number.phone_number_id, agent_id=agent.agent_id)
        assert assigned is not None and assigned.agent_name == "Alex" and assigned.label == "Main"
        by_e164 = await repo.get_phone_number_by_e164(s, "+15550001111")
        assert by_e164 is not None and by_e164.twilio_token == "tok-secret"
        outbound = await repo.get_phone_number_for_agent(s, agent.agent_id)
        assert outbound is not None and outbound.phone_number_id == number.phone_number_id
        assert [n.phone_number for n in await repo.list_phone_numbers(s, agent_id=agent.agent_id)] == [
            "+15550001111"
        ]
        relabelled = await repo.update_phone_number(s, number.phone_number_id, label="Sales")
        assert (
            relabelled is not None and relabelled.agent_id == agent.agent_id and relabelled.label == "Sales"
        )
        cleared = await repo.update_phone_number(s, number.phone_number_id, agent_id=None)
        assert cleared is not None and cleared.agent_id is None and cleared.agent_name is None
        assert await repo.get_phone_number_for_agent(s, agent.agent_id) is None


async def test_duplicates_unknown_agents_and_missing_rows(db: Database) -> None:
    async with db.session() as s:
        await repo.create_phone_number(s, phone_number="+15550001111")
        with pytest.raises(repo.PhoneNumberExistsError):
            await repo.create_phone_number(s, phone_number="+15550001111")
        with pytest.raises(repo.UnknownAgentError):
            await repo.create_phone_number(s, phone_number="+15550002222", agent_id="agent_missing")
        assert await repo.update_phone_number(s, "phnum_missing", label="x") is None
        assert await repo.get_phone_number(s, "phnum_missing") is None
        assert await repo.delete_phone_number(s, "phnum_missing") is False


async def test_deleting_the_agent_unassigns_its_numbers(db: Database) -> None:
    async with db.session() as s:
        agent = await agents_repo.create_agent(s, name="Alex")
        number = await repo.create_phone_number(s, phone_number="+15550001111", agent_id=agent.agent_id)
    async with db.session() as s:
        assert await agents_repo.delete_agent(s, agent.agent_id)
    async with db.session() as s:
        again = await repo.get_phone_number(s, number.phone_number_id)
    assert again is not None and again.agent_id is None
