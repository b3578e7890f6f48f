"""``sdr-agent db``: schema migrations."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sdr_agent.settings import get_settings
from sdr_agent.storage.migrate import upgrade as run_upgrade

app = typer.Typer(help="database commands", no_args_is_help=True)


def display_url(url: str) -> str:
    """The database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # shown in a message about this very URL: the caller reports it
        return "<unparseable database url>"


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Apply Alembic migrations up to REVISION (default: head)."""
    settings = get_settings()
    console = Console()
    try:
        run_upgrade(settings.database_url, revision)
    except Exception as exc:
        console.print(f"[bold red]migration failed:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    console.print(f"database {display_url(settings.database_url)} is at revision [bold]{revision}[/]")
