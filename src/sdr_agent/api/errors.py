"""Uniform JSON errors: no route ever returns a stack trace."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class NotFoundError(HTTPException):
    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(status_code=404, detail=f"{kind} '{identifier}' not found")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; GET and POST of one path are
            # two routes, so the full set comes from all of them.
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StaleDataError)
    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: Exception) -> JSONResponse:
        # Two requests racing on one row (an update meeting a delete, a duplicate insert): the loser is told
        # to retry rather than shown a 500.
        log.info("conflicting write on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse(
            {"detail": "the resource changed while this request ran; retry it"}, status_code=409
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Methods of the documented path that serves this URL: the most literal template that matches
    (``/agents/create`` is its own path, although ``/agents/{agent_id}`` would match it too)."""
    path = request.url.path
    best: tuple[int, list[str]] | None = None
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods = sorted(m.upper() for m in operations if m.upper() in _HTTP_METHODS)
            params = template.count("{")
            if best is None or params < best[0]:
                best = (params, methods)
    return best[1] if best is not None else []


_HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"}
