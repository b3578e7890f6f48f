"""`sdr-agent serve` (placeholder; the foundation owner replaces this module)."""

from __future__ import annotations

import typer


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API server."""
    typer.echo("not available yet")
    raise typer.Exit(2)
