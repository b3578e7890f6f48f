from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kb_samples import GLOBEX_KB, sample_docx
from typer.testing import CliRunner

from sdr_agent.cli import app
from sdr_agent.settings import get_settings
from sdr_agent.storage.db import Database
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos.knowledge import attached_document_ids

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI's settings at a temp database and data dir; yields the database URL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SDR_DATABASE_URL", url)
    monkeypatch.setenv("SDR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SDR_CHROMA_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "240")  # rich tables: keep rows on one line for the assertions
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _create_agent(url: str, run_sync: Any) -> str:
    async def create() -> str:
        database = Database(url)
        try:
            async with database.session() as session:
                return (await agents_repo.create_agent(session, name="CLI agent")).agent_id
        finally:
            await database.dispose()

    agent_id: str = run_sync(create())
    return agent_id


def _agent_docs(url: str, agent_id: str, run_sync: Any) -> list[str]:
    async def read() -> list[str]:
        database = Database(url)
        try:
            async with database.session() as session:
                agent = await agents_repo.get_agent(session, agent_id)
                assert agent is not None
                return attached_document_ids(agent.conversation_config)
        finally:
            await database.dispose()

    ids: list[str] = run_sync(read())
    return ids


def test_ingest_attach_list_query_and_delete(cli_env: str, tmp_path: Path, run_sync: Any) -> None:
    assert runner.invoke(app, ["kb", "list"]).exit_code == 0  # creates the schema
    agent_id = _create_agent(cli_env, run_sync)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "globex.md").write_text(GLOBEX_KB)
    (folder / "handbook.docx").write_bytes(sample_docx())
    (folder / "ignored.xlsx").write_bytes(b"not a document")

    ingested = runner.invoke(app, ["kb", "ingest", str(folder), "--agent", agent_id])
    assert ingested.exit_code == 0, ingested.output
    assert "globex.md" in ingested.output and "(8 chunks)" in ingested.output
    assert "ignored.xlsx" not in ingested.output
    attached = _agent_docs(cli_env, agent_id, run_sync)
    assert len(attached) == 2

    listed = runner.invoke(app, ["kb", "list"])
    assert listed.exit_code == 0
    assert "globex.md" in listed.output and "Widget handbook" in listed.output

    question = "Do you handle payroll taxes in Canada?"
    queried = runner.invoke(app, ["kb", "query", question, "--agent", agent_id])
    assert queried.exit_code == 0, queried.output
    assert "Canadian province" in queried.output
    assert re.search(r"query \d+\.\d ms", queried.output)

    refused = runner.invoke(app, ["kb", "delete", attached[0]])
    assert refused.exit_code == 1 and "attached" in refused.output
    deleted = runner.invoke(app, ["kb", "delete", attached[0], "--force"])
    assert deleted.exit_code == 0, deleted.output
    assert _agent_docs(cli_env, agent_id, run_sync) == attached[1:]


def test_ingest_reports_bad_files_and_unknown_agents(cli_env: str, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("The office closes at noon on Fridays.")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 nonsense")
    result = runner.invoke(app, ["kb", "ingest", str(good), str(broken), str(tmp_path / "missing.txt")])
    assert result.exit_code == 1
    assert "good.txt" in result.output and "broken.pdf" in result.output and "missing.txt" in result.output
    unknown = runner.invoke(app, ["kb", "ingest", str(good), "--agent", "agent_nope"])
    assert unknown.exit_code == 1 and "not found" in unknown.output
    two_named = runner.invoke(app, ["kb", "ingest", str(good), str(good), "--name", "x"])
    assert two_named.exit_code == 2
    no_agent = runner.invoke(app, ["kb", "query", "anything", "--agent", "agent_nope"])
    assert no_agent.exit_code == 1
