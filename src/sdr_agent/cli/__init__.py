"""The ``sdr-agent`` command line (typer + rich). Each command group lives in its own module."""

from __future__ import annotations

import typer

from sdr_agent.cli import agents, bench, call, campaign, chat, db, demo, kb, server
from sdr_agent.cli import eval as eval_cli
from sdr_agent.cli import secrets as secrets_cli

app = typer.Typer(help="sdr-agent: self-hosted AI SDR voice agent", no_args_is_help=True)
app.command("serve")(server.serve)
app.add_typer(db.app, name="db")
app.add_typer(agents.app, name="agents")
app.add_typer(kb.app, name="kb")
app.add_typer(secrets_cli.app, name="secrets")
app.add_typer(bench.app, name="bench")
app.add_typer(campaign.app, name="campaign")
app.add_typer(eval_cli.app, name="eval")
app.command("call")(call.call)
app.command("chat")(chat.chat)
app.command("demo")(demo.demo)
