"""``sdr-agent chat AGENT_ID``: a text chat with an agent in the terminal, over the realtime socket.

It asks the running server for a signed URL (first key of ``SDR_API_KEYS`` or ``--api-key``), opens the
socket in text-only mode, and prints each ``agent_response``; every line typed is sent as ``user_message``.
An empty line or end of input ends the chat; so does the agent hanging up.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
import typer
import websockets
from rich.console import Console

from sdr_agent.cli.call import _api_key, parse_variables
from sdr_agent.settings import get_settings


def _signed_url(server: str, key: str, agent_id: str) -> str:
    try:
        response = httpx.get(
            f"{server.rstrip('/')}/v1/convai/conversation/get-signed-url",
            params={"agent_id": agent_id}, headers={"xi-api-key": key}, timeout=10.0,
        )
    except httpx.HTTPError as exc:
        raise typer.BadParameter(f"cannot reach {server}: {exc}", param_hint="--server") from None
    if response.status_code == 404:
        raise typer.BadParameter(f"no agent {agent_id!r} on {server}", param_hint="AGENT_ID")
    if response.status_code == 401:
        raise typer.BadParameter("the server refused the API key", param_hint="--api-key")
    response.raise_for_status()
    return str(response.json()["signed_url"])


async def run_chat(
    url: str,
    variables: dict[str, str],
    read_line: Callable[[], str | None],
    show: Callable[[str, str], None],
    *,
    reply_timeout_s: float = 120.0,
) -> str | None:
    """Hold one chat; returns the conversation id. ``read_line`` blocks (it runs in a thread); None or an
    empty line ends the chat. Like a person, the chat waits for the agent's answer before the next line."""
    async with websockets.connect(url, max_size=16 * 1024 * 1024) as ws:
        await ws.send(json.dumps({
            "type": "conversation_initiation_client_data", "dynamic_variables": variables,
            "conversation_config_override": {"conversation": {"text_only": True}},
            "source_info": {"source": "sdr-agent chat", "version": "1"},
        }))
        replies: asyncio.Queue[str] = asyncio.Queue()
        reader = asyncio.create_task(_print_replies(ws, show, replies))
        await _next_reply(replies, reader, 5.0)  # the first message, if the agent has one
        while not reader.done():
            line = await asyncio.to_thread(read_line)
            if line is None or not line.strip() or reader.done():
                break
            await ws.send(json.dumps({"type": "user_message", "text": line.strip()}))
            await _next_reply(replies, reader, reply_timeout_s)
        if not reader.done():
            await ws.close()
        return await reader


async def _next_reply(replies: asyncio.Queue[str], reader: asyncio.Task[str | None], timeout: float) -> None:
    """Wait for the agent's next answer, the end of the chat, or the timeout, whichever comes first."""
    getter = asyncio.create_task(replies.get())
    await asyncio.wait({getter, reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    getter.cancel()


async def _print_replies(
    ws: Any, show: Callable[[str, str], None], replies: asyncio.Queue[str]
) -> str | None:
    conversation_id: str | None = None
    try:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "conversation_initiation_metadata":
                conversation_id = message["conversation_initiation_metadata_event"]["conversation_id"]
                show("info", f"conversation {conversation_id}")
            elif kind == "agent_response":
                text = message["agent_response_event"]["agent_response"]
                show("agent", text)
                replies.put_nowait(text)
            elif kind == "ping":
                await ws.send(json.dumps({"type": "pong", "event_id": message["ping_event"]["event_id"]}))
    except websockets.ConnectionClosed:
        pass
    return conversation_id


def chat(
    agent_id: str = typer.Argument(..., help="agent to chat with"),
    var: list[str] = typer.Option([], "--var", help="dynamic variable name=value (repeatable)"),
    server: str = typer.Option(
        "http://127.0.0.1:8000", "--server", envvar="SDR_SERVER_URL", help="running server"
    ),
    api_key: str | None = typer.Option(None, "--api-key", help="defaults to the first of SDR_API_KEYS"),
) -> None:
    """Chat with an agent in text over the realtime socket (type an empty line to leave)."""
    console = Console()
    key = _api_key(api_key, get_settings())
    url = _signed_url(server, key, agent_id)

    def read_line() -> str | None:
        line = sys.stdin.readline()
        return line if line else None

    def show(role: str, text: str) -> None:
        style = {"agent": "bold cyan", "info": "dim"}.get(role, "")
        console.print(f"[{style}]{'agent' if role == 'agent' else '·'}[/] {text}" if style else text)

    console.print("[dim]Type a message and press Enter; an empty line ends the chat.[/]")
    conversation_id = asyncio.run(run_chat(url, parse_variables(var), read_line, show))
    if conversation_id:
        console.print(f"[dim]stored as {conversation_id}[/]")
