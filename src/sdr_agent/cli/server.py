"""``sdr-agent serve``: migrate the database, then run the API with uvicorn."""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console

from sdr_agent.app import create_app
from sdr_agent.logs import configure_logging
from sdr_agent.settings import Settings, get_settings
from sdr_agent.storage.migrate import upgrade

INSECURE_WARNING = (
    "INSECURE DEV MODE: SDR_API_KEYS is empty, so every /v1 route is open to anyone who can reach this port. "
    "Never expose this server."
)


class MissingApiKeysError(RuntimeError):
    pass


def check_api_keys(settings: Settings, *, insecure_dev: bool) -> None:
    """Refuse an open server unless the operator asked for one."""
    if not settings.api_keys and not insecure_dev:
        raise MissingApiKeysError(
            "SDR_API_KEYS is empty: set at least one key (comma-separated), "
            "or pass --insecure-dev for local work"
        )


def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
    insecure_dev: bool = typer.Option(False, "--insecure-dev", help="allow running without SDR_API_KEYS"),
) -> None:
    """Run the API server (migrations first)."""
    settings = get_settings()
    console = Console(stderr=True)
    try:
        check_api_keys(settings, insecure_dev=insecure_dev)
    except MissingApiKeysError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if insecure_dev and not settings.api_keys:
        console.print(f"[bold white on red] {INSECURE_WARNING} [/]")
    configure_logging(settings)
    upgrade(settings.database_url)
    app = create_app(settings, migrate=False)
    app.state.insecure_dev = bool(insecure_dev and not settings.api_keys)
    uvicorn.run(app, host=host, port=port, log_config=None, ws="websockets-sansio", server_header=False)
