"""``/console``: the browser console, server-rendered page shells plus a little JavaScript.

The shells hold no data: every page fetches from ``/v1`` with the API key that the login page keeps in the
tab's ``sessionStorage`` and sends as ``xi-api-key`` (a key never travels in a URL). Scripts and styles are
served from this package, so the console works without internet.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

router = APIRouter(prefix="/console", include_in_schema=False)
_templates = Jinja2Templates(directory=str(files("sdr_agent.web").joinpath("templates")))
_STATIC = {
    "console.js": "text/javascript",
    "talk.js": "text/javascript",
    "history.js": "text/javascript",
    "console.css": "text/css",
}
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _page(
    request: Request,
    template: str,
    *,
    title: str,
    page: str,
    section: str,
    data: dict[str, str] | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {"title": title, "page": page, "section": section, "data": data or {}}
    response = _templates.TemplateResponse(request, template, context)
    # Pages are shells; the CSP keeps them to our own scripts and to this server's API and socket.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'"
    )
    return response


def _checked_id(value: str) -> str:
    if not value or len(value) > 64 or not set(value) <= _ID_CHARS:
        raise HTTPException(status_code=404, detail="no such page")
    return value


@router.get("")
async def console_root() -> RedirectResponse:
    return RedirectResponse("/console/agents", status_code=307)


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request) -> HTMLResponse:
    return _page(request, "login.html", title="Log in", page="login", section="")


@router.get("/agents", response_class=HTMLResponse)
async def agents(request: Request) -> HTMLResponse:
    return _page(request, "agents.html", title="Agents", page="agents", section="agents")


@router.get("/agents/new", response_class=HTMLResponse)
async def agent_new(request: Request) -> HTMLResponse:
    return _page(request, "agent_edit.html", title="Create an agent", page="agent-edit", section="agents")


@router.get("/agents/{agent_id}", response_class=HTMLResponse)
async def agent_edit(request: Request, agent_id: str) -> HTMLResponse:
    data = {"agent-id": _checked_id(agent_id)}
    return _page(
        request, "agent_edit.html", title="Edit agent", page="agent-edit", section="agents", data=data
    )


@router.get("/agents/{agent_id}/talk", response_class=HTMLResponse)
async def talk(request: Request, agent_id: str) -> HTMLResponse:
    data = {"agent-id": _checked_id(agent_id)}
    return _page(request, "talk.html", title="Talk to this agent", page="talk", section="agents", data=data)


@router.get("/conversations", response_class=HTMLResponse)
async def conversations(request: Request) -> HTMLResponse:
    return _page(
        request, "conversations.html", title="Conversations", page="conversations", section="conversations"
    )


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation(request: Request, conversation_id: str) -> HTMLResponse:
    data = {"conversation-id": _checked_id(conversation_id)}
    return _page(
        request, "conversation.html", title="Conversation", page="conversation", section="conversations",
        data=data,
    )


@router.get("/campaigns", response_class=HTMLResponse)
async def campaigns(request: Request) -> HTMLResponse:
    return _page(request, "campaigns.html", title="Campaigns", page="campaigns", section="campaigns")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = _STATIC.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="no such file")
    body = files("sdr_agent.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})
