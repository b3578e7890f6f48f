"""``serve --workers N`` refuses set-ups whose shared state would live in one process, and the per-worker
metric snapshots add up (a worker that exited keeps its totals, not its active calls)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sdr_agent.cli import app as cli
from sdr_agent.cli.workers import WorkersUnsupportedError, check_workers
from sdr_agent.observability.shared import LiveSnapshot, combine, read_snapshots
from sdr_agent.settings import Settings, get_settings

PG_URL = "postgresql+asyncpg://u@127.0.0.1:1/db"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SDR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("SDR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SDR_API_KEYS", "k1")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_serve_with_workers_on_sqlite_exits_2_before_touching_anything(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr("sdr_agent.cli.server.upgrade", lambda url: started.append(url))
    result = cli_env.invoke(cli, ["serve", "--workers", "2"], terminal_width=300)
    assert result.exit_code == 2 and "PostgreSQL" in result.output and started == []
    assert cli_env.invoke(cli, ["serve", "--workers", "0"]).exit_code == 2  # bad input, clear usage error


@pytest.mark.parametrize(
    ("overrides", "needs"),
    [
        ({"database_url": "sqlite+aiosqlite:///x.db", "chroma_url": "http://127.0.0.1:8000"}, "PostgreSQL"),
        ({"database_url": PG_URL}, "SDR_CHROMA_URL"),
        ({"database_url": PG_URL, "chroma_url": "http://127.0.0.1:8000",
          "security": {"rate_limit_storage": "memory"}}, "RATE_LIMIT_STORAGE"),
    ],
)
def test_several_workers_need_shared_state(overrides: dict[str, Any], needs: str) -> None:
    settings = Settings.model_validate(overrides)
    check_workers(settings, 1)  # one worker: anything goes
    with pytest.raises(WorkersUnsupportedError, match=needs):
        check_workers(settings, 2)


def test_shared_database_chroma_server_and_db_counters_are_accepted() -> None:
    settings = Settings.model_validate({"database_url": PG_URL, "chroma_url": "http://127.0.0.1:8000"})
    check_workers(settings, 4)


def test_snapshots_sum_and_an_exited_worker_keeps_totals_but_no_active_calls(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    LiveSnapshot(pid=os.getpid(), active=1, ended=2, totals={"frames_in": 10}).write(tmp_path)
    LiveSnapshot(pid=gone.pid, active=3, ended=5, totals={"frames_in": 7},
                 fallbacks={"stt\0a\0b": 1}).write(tmp_path)
    (tmp_path / "live-garbage.json").write_text("{not json")

    others = read_snapshots(tmp_path, own_pid=-1)
    total = combine(others)

    assert sorted(s.pid for s in others) == sorted([os.getpid(), gone.pid])
    assert (total.active, total.ended) == (1, 7)
    assert (total.totals, total.fallbacks) == ({"frames_in": 17}, {"stt\0a\0b": 1})
    assert [s.pid for s in read_snapshots(tmp_path, own_pid=os.getpid())] == [gone.pid]
