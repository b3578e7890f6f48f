"""Logging: one JSON object per line, the current call on every line, secrets and phone numbers scrubbed.

``configure_logging(settings)`` installs a root handler; ``bind_call(...)`` puts ``call_sid`` and
``conversation_id`` on every line logged inside it (contextvars, so each call's task keeps its own).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sdr_agent.settings import Settings

_call_sid: ContextVar[str | None] = ContextVar("call_sid", default=None)
_conversation_id: ContextVar[str | None] = ContextVar("conversation_id", default=None)

MASK = "***"
_HANDLER_NAME = "sdr-agent"
# E.164 numbers, also URL-encoded (Twilio form posts echoed into logs).
_PHONE = re.compile(r"(?:\+|%2B)\d{6,15}\b")
# key=value / key: value / "key": "value" pairs whose value is a credential.
_CREDENTIAL = re.compile(
    r"(?i)\b(xi-api-key|api[_-]?key|authorization|auth[_-]?token|token|secret|password|signature)"
    r"(\"?\s*[:=]\s*\"?)(bearer\s+|basic\s+)?([^\s\"'&,;}]+)"
)


def mask_phone(number: str | None) -> str:
    """Every digit but the last four becomes ``*``: ``+15551234567`` -> ``+*******4567``."""
    if not number:
        return ""
    total = sum(ch.isdigit() for ch in number)
    seen = 0
    out: list[str] = []
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


@contextmanager
def bind_call(*, call_sid: str | None = None, conversation_id: str | None = None) -> Iterator[None]:
    """Tag every log line inside the block with this call (values left as None keep the outer binding)."""
    tokens = []
    if call_sid is not None:
        tokens.append((_call_sid, _call_sid.set(call_sid)))
    if conversation_id is not None:
        tokens.append((_conversation_id, _conversation_id.set(conversation_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_call() -> tuple[str | None, str | None]:
    return _call_sid.get(), _conversation_id.get()


class Scrubber:
    """Removes known secret values, credential-looking pairs and full phone numbers from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", text)
        return _PHONE.sub(lambda m: _mask_match(m.group(0)), text)


def _mask_match(found: str) -> str:
    prefix = "%2B" if found.startswith("%2B") else "+"
    return prefix + mask_phone(found[len(prefix):])


class CallContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_sid = _call_sid.get()
        record.conversation_id = _conversation_id.get()
        return True


class ScrubFilter(logging.Filter):
    """Rewrites the record's message (and exception text) through a Scrubber before any handler sees it."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.scrubber.scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrubber.scrub(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("call_sid", "conversation_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(call)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        sid = getattr(record, "call_sid", None)
        record.call = f" [{sid}]" if sid else ""
        return super().format(record)


def secrets_from_settings(settings: Settings) -> list[str]:
    values = [key.get_secret_value() for key in settings.api_keys]
    for secret in (
        settings.twilio_auth_token,
        settings.webhook_secret,
        settings.metrics_token,
        settings.stt.deepgram_api_key,
        settings.tts.deepgram_api_key,
        settings.llm.api_key,
    ):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


def build_handler(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    handler: logging.Handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(CallContextFilter())
    handler.addFilter(ScrubFilter(Scrubber(secrets_from_settings(settings))))
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    return handler


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Replace the root handlers with one scrubbing handler; uvicorn's loggers propagate into it."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = build_handler(settings, stream)
    handler.set_name(_HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
