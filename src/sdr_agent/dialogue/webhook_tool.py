"""Runs a webhook tool: one HTTP request built from its ``api_schema`` and the validated arguments.

Header values may use ``{{secret__…}}``; those values go on the wire only — errors and logs are scrubbed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from sdr_agent.dialogue.tool_config import AgentTool
from sdr_agent.dialogue.variables import redact, substitute, substitute_json

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 20.0
MAX_RESULT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ToolExecution:
    """A tool's outcome: ``result_value`` goes into the transcript, ``spoken`` is said to the caller."""

    result_value: str
    is_error: bool
    spoken: str
    data: Any = None


def _header_values(headers: Any, values: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(headers, Mapping):
        return out
    for name, value in headers.items():
        if isinstance(value, Mapping):  # ElevenLabs secret reference {"secret_id": ...}: resolved by name
            secret_id = value.get("secret_id")
            value = values.get(f"secret__{secret_id}", "") if secret_id else ""
        out[str(name)] = substitute(str(value), values, allow_secrets=True)
    return out


def _argument_value(
    tool: AgentTool, name: str, arguments: Mapping[str, Any], values: Mapping[str, Any]
) -> Any:
    param = next((p for p in tool.webhook_params if p.name == name), None)
    if param is not None and param.constant is not None:
        return substitute_json(param.constant, values)
    if param is not None and param.dynamic_variable:
        return values.get(param.dynamic_variable)
    return arguments.get(name)


def build_request(
    tool: AgentTool, arguments: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[str, str, dict[str, str], dict[str, Any], Any]:
    """(method, url, headers, query, json body or None)."""
    schema = tool.config.get("api_schema") or {}
    method = str(schema.get("method") or "GET").upper()
    url = substitute(str(schema["url"]), values)
    query: dict[str, Any] = {}
    body: dict[str, Any] = {}
    for param in tool.webhook_params:
        value = _argument_value(tool, param.name, arguments, values)
        if value is None:
            continue
        if param.location == "path":
            url = url.replace("{" + param.name + "}", quote(str(value), safe=""))
        elif param.location == "query":
            query[param.name] = value
        else:
            body[param.name] = value
    headers = _header_values(schema.get("request_headers"), values)
    send_body = (
        body if method in ("POST", "PUT", "PATCH", "DELETE") and (body or method != "DELETE") else None
    )
    return method, url, headers, query, send_body


def summarize_result(data: Any) -> str:
    """A short sentence to say about a tool result: a message-like field if there is one, else "Done"."""
    if isinstance(data, Mapping):
        for key in ("spoken", "message", "summary", "result", "status", "detail", "text"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split()[:40])
        return "All done."
    if isinstance(data, str) and data.strip():
        return " ".join(data.split()[:40])
    return "All done."


async def run_webhook(
    tool: AgentTool,
    arguments: Mapping[str, Any],
    values: Mapping[str, Any],
    http: httpx.AsyncClient | None,
    secrets: list[str],
) -> ToolExecution:
    method, url, headers, query, body = build_request(tool, arguments, values)
    timeout = float(tool.config.get("response_timeout_secs") or DEFAULT_TIMEOUT_S)
    try:
        if http is None:
            async with httpx.AsyncClient() as client:
                response = await client.request(
                    method, url, headers=headers, params=query, json=body, timeout=timeout
                )
        else:
            response = await http.request(
                method, url, headers=headers, params=query, json=body, timeout=timeout
            )
    except httpx.TimeoutException:
        log.warning("webhook tool %s timed out after %.1f s", tool.name, timeout)
        return ToolExecution(f"timed out after {timeout:g} s", True, "")
    except httpx.HTTPError as exc:
        log.warning("webhook tool %s failed: %s", tool.name, redact(str(exc), secrets))
        return ToolExecution(redact(f"request failed: {type(exc).__name__}", secrets), True, "")
    text = redact(response.text[:MAX_RESULT_CHARS], secrets)
    try:
        data: Any = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        data = text
    if response.status_code >= 400:
        log.warning("webhook tool %s answered HTTP %d", tool.name, response.status_code)
        return ToolExecution(f"HTTP {response.status_code}: {text[:300]}", True, "", data)
    log.info("webhook tool %s answered HTTP %d", tool.name, response.status_code)
    return ToolExecution(text or "{}", False, summarize_result(data), data)
