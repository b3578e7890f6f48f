"""Reject request bodies over the configured size before they are read into memory."""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _reject(send, limit)
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _reject(send, limit)

    def _limit_for(self, path: str) -> int:
        # Knowledge-base file uploads have their own, larger cap (checked again by the route).
        if path.endswith("/knowledge-base/file"):
            return max(self.max_bytes, 21 * 1024 * 1024)
        return self.max_bytes


class _BodyTooLarge(StarletteHTTPException):
    # An HTTPException, so FastAPI's body reader re-raises it (as 413) instead of turning it into a 400.
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds {limit} bytes")


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body exceeds {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether a JSON text nests objects/arrays deeper than ``max_depth`` (strings are skipped, so brackets
    inside them do not count). Linear, and stops at the first level too deep."""
    if body.count(b"{") + body.count(b"[") <= max_depth:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"}", b"]"):
            depth -= 1
    return False


class InputBoundsMiddleware:
    """Bounds what the body and query of every request may hold before any route parses them: the query
    string's length, and the nesting depth of JSON bodies (a config nested 400 levels deep would otherwise
    be stored and then break every recursive reader of it). Runs inside the body-size limit, so the JSON
    it buffers is already bounded."""

    def __init__(self, app: ASGIApp, max_json_depth: int, max_query_bytes: int) -> None:
        self.app = app
        self.max_json_depth = max_json_depth
        self.max_query_bytes = max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > self.max_query_bytes:
            if scope["type"] == "http":
                await _reject_invalid(send, ["query"], f"query string exceeds {self.max_query_bytes} bytes")
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "query string too long"})
            return
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body.extend(message.get("body", b""))
            more = bool(message.get("more_body", False))
        if json_depth_exceeds(bytes(body), self.max_json_depth):
            await _reject_invalid(send, ["body"], f"JSON nested deeper than {self.max_json_depth} levels")
            return
        await self.app(scope, _replay([{"type": "http.request", "body": bytes(body), "more_body": False}],
                                      receive), send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()  # e.g. http.disconnect, which streaming responses listen for
        return {"type": "http.disconnect"}

    return receive


async def _reject_invalid(send: Send, loc: list[str], message: str) -> None:
    body = json.dumps({"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
