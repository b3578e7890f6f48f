"""``sdr-agent agents``: list, create and show agents straight from the database (no server needed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.db import Database
from sdr_agent.storage.migrate import upgrade_async
from sdr_agent.storage.repos import agents as agents_repo
from sdr_agent.storage.repos.agents import Agent

app = typer.Typer(help="agent commands", no_args_is_help=True)
T = TypeVar("T")


def _database_url() -> str:
    from sdr_agent.settings import get_settings

    return get_settings().database_url


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def _run() -> T:
        url = _database_url()
        await upgrade_async(url)
        database = Database(url)
        try:
            async with database.session() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(_run())


def _print_agent(agent: Agent, console: Console) -> None:
    console.print_json(
        json.dumps(
            {
                "agent_id": agent.agent_id,
                "name": agent.name,
                "tags": agent.tags,
                "created_at": agent.created_at.isoformat(),
                "updated_at": agent.updated_at.isoformat(),
                "conversation_config": agent.conversation_config,
                "platform_settings": agent.platform_settings,
            }
        )
    )


@app.command("list")
def list_agents(
    search: str | None = typer.Option(None, help="case-insensitive substring of the name"),
    limit: int = typer.Option(30, min=1, max=100, help="how many (newest first)"),
) -> None:
    """List agents, newest first."""
    page = run_in_session(lambda s: agents_repo.list_agents(s, search=search, page_size=limit))
    table = Table("name", "voice", "barge-in", "created (UTC)")
    table.columns.insert(0, Column("agent_id", no_wrap=True, min_width=32))
    for agent in page.items:
        table.add_row(
            agent.agent_id,
            agent.name,
            agent.voice_id or "-",
            "on" if agent.interrupt_enabled else "off",
            agent.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    Console().print(table)
    if page.has_more:
        Console(stderr=True).print(f"(more than {limit}; use --limit or --search)")


@app.command("create")
def create_agent(
    name: str = typer.Option(..., help="agent name"),
    system_prompt: str = typer.Option("", help="system prompt"),
    first_message: str = typer.Option("", help="first thing the agent says ('' = wait for the caller)"),
    voice_id: str | None = typer.Option(None, help="TTS voice"),
    interrupt: bool = typer.Option(True, "--interrupt/--no-interrupt", help="allow barge-in"),
) -> None:
    """Create an agent from the seed's flat fields; prints it."""
    config = agents_repo.flat_config(
        system_prompt=system_prompt,
        first_message=first_message,
        voice_id=voice_id,
        interrupt_enabled=interrupt,
    )
    agent = run_in_session(lambda s: agents_repo.create_agent(s, name=name, conversation_config=config))
    _print_agent(agent, Console())


@app.command("show")
def show_agent(agent_id: str = typer.Argument(..., help="agent id")) -> None:
    """Print one agent's full configuration as JSON."""
    agent = run_in_session(lambda s: agents_repo.get_agent(s, agent_id))
    if agent is None:
        Console(stderr=True).print(f"[bold red]agent '{agent_id}' not found[/]")
        raise typer.Exit(1)
    _print_agent(agent, Console())
