"""`sdr-agent call` (placeholder; the telephony owner replaces this module)."""

from __future__ import annotations

import typer


def call(agent_id: str, to_number: str) -> None:
    """Place a call (arrives with the telephony work)."""
    typer.echo("not available yet")
    raise typer.Exit(2)
