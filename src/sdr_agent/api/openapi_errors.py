"""Every error a route can answer, documented in the OpenAPI schema, so clients (and schemathesis) can rely
on it. The rules follow what the shared layers do, not what each route remembers to declare:
- every ``/v1`` route: 401 (key) and 429 (rate limit / failed-attempt throttle, with ``Retry-After``);
- every Twilio webhook: 403 (signature) and 429;
- a route with a path parameter: 404; with a body: 413 (size) and 422; with a query or body: 422
  (validation, JSON depth, query length);
- whatever a route declares itself (``responses=``) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

_ERROR_SCHEMA_NAME = "ErrorResponse"
_ERROR_SCHEMA: dict[str, Any] = {
    "title": _ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object"}},
            ]
        }
    },
}
_DESCRIPTIONS = {
    "400": "The input is well-formed but cannot be used (e.g. an unreadable document)",
    "401": "Missing or invalid xi-api-key header",
    "403": "Missing or invalid X-Twilio-Signature",
    "404": "No such resource",
    "409": "Conflicts with the current state",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "422": "Validation error",
    "429": "Too many requests; retry after the number of seconds in Retry-After",
    "502": "An upstream service (Twilio) failed",
    "503": "A required subsystem is unavailable",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds until a retry may succeed", "schema": {"type": "integer"}}
}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def error_response(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{_ERROR_SCHEMA_NAME}"}}},
    }
    if status == "429":
        response["headers"] = _RETRY_AFTER
    return response


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error responses each operation can give (in place; returns ``schema``)."""
    schema.setdefault("components", {}).setdefault("schemas", {})[_ERROR_SCHEMA_NAME] = _ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            for status in _statuses(path, operation):
                operation.setdefault("responses", {}).setdefault(status, error_response(status))
            # FastAPI's own 422 shape is narrower than ours (the JSON-depth and query checks answer it too).
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = error_response("422")
    return schema


# Errors particular to a group of routes: (path regex, statuses).
_ROUTE_ERRORS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    # Placing a call: unknown variables or numbers (400), Twilio refusing (4xx as 400) or unreachable (502).
    (re.compile(r"^/v1/convai/(outbound|twilio/outbound-call|batch-calling/)"), ("400", "409", "502")),
    (re.compile(r"^/v1/convai/knowledge-base/(url|file|text)$"), ("400", "415", "503")),
    (re.compile(r"^/v1/convai/knowledge-base/\{[^}]+\}$"), ("409",)),
    (re.compile(r"^/v1/convai/phone-numbers"), ("409",)),
)


def _statuses(path: str, operation: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    statuses = []
    if path.startswith("/v1/"):
        statuses += ["401", "429"]
    if path.startswith("/twiml/"):
        statuses += ["403", "429"]
    names_an_id = any(p.get("in") == "query" and str(p.get("name", "")).endswith("_id") for p in parameters)
    if any(p.get("in") == "path" for p in parameters) or names_an_id:
        statuses.append("404")
    if path.startswith("/v1/") and ("requestBody" in operation or "{" in path):
        statuses.append("409")  # a write racing another on the same row
    if "requestBody" in operation:
        # 400: a body that is not even text (FastAPI's "error parsing the body"); 404: an id inside it.
        statuses += ["400", "404", "413", "422"]
        if "multipart/form-data" in operation["requestBody"].get("content", {}):
            statuses.append("415")
    if any(p.get("in") == "query" for p in parameters) or path.startswith("/v1/"):
        statuses.append("422")  # any query string may be over the length bound
    for pattern, extra in _ROUTE_ERRORS:
        if pattern.search(path):
            statuses += extra
    return statuses


def install_error_docs(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the schema served (and cached) carries the documented errors."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
