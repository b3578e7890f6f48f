"""``sdr-agent secrets``: make a key for ``SDR_SECRET_KEY`` (secrets at rest, ``storage.secrets``)."""

from __future__ import annotations

import typer

from sdr_agent.storage.secrets import SecretBox

app = typer.Typer(help="keys for secrets at rest", no_args_is_help=True)


@app.command("generate-key")
def generate_key() -> None:
    """Print a new Fernet key. Rotate: SDR_SECRET_KEY="<new>,<old>", restart all replicas, drop <old>."""
    typer.echo(SecretBox.generate_key())
