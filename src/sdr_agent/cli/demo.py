"""`sdr-agent demo` (placeholder; replaced by the call-loop work)."""

from __future__ import annotations

import typer


def demo() -> None:
    """Run the simulated call demo."""
    typer.echo("not available yet")
    raise typer.Exit(2)
