from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from sdr_agent.settings import Settings
from sdr_agent.storage.migrate import alembic_config, upgrade_async
from sdr_agent.storage.models import Base

pytestmark = pytest.mark.postgres

EXPECTED_TABLES = {
    "agents",
    "conversations",
    "transcript_turns",
    "phone_numbers",
    "webhook_configs",
    "workspace_settings",
    "knowledge_documents",
    "meetings",
    "webhook_deliveries",
}


def _state(connection: Connection) -> dict[str, Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return {
        "tables": set(inspect(connection).get_table_names()),
        "revision": context.get_current_revision(),
        "diff": compare_metadata(context, Base.metadata),
    }


async def _inspect(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_state)
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_reaches_head_and_matches_models(settings: Settings) -> None:
    before = await _inspect(settings.database_url)
    assert before["tables"] == set() and before["revision"] is None
    await upgrade_async(settings.database_url)
    after = await _inspect(settings.database_url)
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    assert after["revision"] == head
    assert after["tables"] >= EXPECTED_TABLES
    assert after["diff"] == [], "models and migrations disagree; add a migration"


async def test_upgrade_twice_is_a_no_op_and_keeps_data(settings: Settings) -> None:
    await upgrade_async(settings.database_url)
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agents (agent_id, name, system_prompt, first_message, interrupt_enabled,"
                    " conversation_config, platform_settings, tags, created_at, updated_at) VALUES"
                    " ('agent_keep', 'Keep', '', '', true, '{}', '{}', '[]',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        await upgrade_async(settings.database_url)
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM agents"))).scalar_one()
    finally:
        await engine.dispose()
    assert count == 1
