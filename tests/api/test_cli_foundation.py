"""``sdr-agent serve | db upgrade | agents list|create|show``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from sdr_agent.cli import app as cli
from sdr_agent.settings import get_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    monkeypatch.setenv("SDR_DATABASE_URL", database_url)
    monkeypatch.setenv("SDR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SDR_API_KEYS", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_db_upgrade_then_agents_create_list_show(cli_env: CliRunner) -> None:
    upgraded = cli_env.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "head" in upgraded.output
    created = cli_env.invoke(
        cli,
        [
            "agents",
            "create",
            "--name",
            "Alex",
            "--system-prompt",
            "Sell.",
            "--first-message",
            "Hi!",
            "--no-interrupt",
        ],
    )
    assert created.exit_code == 0, created.output
    agent = json.loads(created.output)
    assert agent["name"] == "Alex"
    assert agent["conversation_config"]["agent"]["prompt"]["prompt"] == "Sell."
    assert agent["conversation_config"]["turn"]["interrupt_enabled"] is False
    listed = cli_env.invoke(cli, ["agents", "list"], terminal_width=200)
    assert listed.exit_code == 0 and agent["agent_id"] in listed.output and "Alex" in listed.output
    shown = cli_env.invoke(cli, ["agents", "show", agent["agent_id"]])
    assert shown.exit_code == 0 and json.loads(shown.output)["agent_id"] == agent["agent_id"]
    missing = cli_env.invoke(cli, ["agents", "show", "agent_nope"])
    assert missing.exit_code == 1 and "agent_nope" in missing.output


def _capture_run(monkeypatch: pytest.MonkeyPatch, record: Any) -> None:
    """Replace the server's run loop: record the app and the options it would serve with."""

    def run(self: Any, sockets: Any = None) -> None:
        record(self.config.app, {"host": self.config.host, "port": self.config.port})

    monkeypatch.setattr("sdr_agent.cli.server.DrainingServer.run", run)


def test_serve_refuses_without_api_keys(cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    _capture_run(monkeypatch, lambda app, kw: started.append(app))
    refused = cli_env.invoke(cli, ["serve"])
    assert refused.exit_code == 2 and "SDR_API_KEYS" in refused.output and started == []


def test_serve_insecure_dev_warns_and_marks_the_app(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[Any, dict[str, Any]]] = []
    _capture_run(monkeypatch, lambda app, kw: started.append((app, kw)))
    monkeypatch.setattr("sdr_agent.cli.server.configure_logging", lambda settings: None)
    result = cli_env.invoke(cli, ["serve", "--insecure-dev", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert "INSECURE" in result.output
    app, options = started[0]
    assert app.state.insecure_dev is True and options["port"] == 8765 and options["host"] == "127.0.0.1"


def test_serve_with_a_key_is_secure(cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDR_API_KEYS", "k1,k2")
    get_settings.cache_clear()
    started: list[Any] = []
    _capture_run(monkeypatch, lambda app, kw: started.append(app))
    monkeypatch.setattr("sdr_agent.cli.server.configure_logging", lambda settings: None)
    result = cli_env.invoke(cli, ["serve", "--insecure-dev"])
    assert result.exit_code == 0 and "INSECURE" not in result.output
    assert started[0].state.insecure_dev is False
