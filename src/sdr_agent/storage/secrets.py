"""Secrets at rest: column types that encrypt with Fernet before a value reaches the database.

A secret column (an imported number's Twilio token, a webhook signing secret, a tool credential, any future
provider key) is declared as ``EncryptedString`` or ``EncryptedJSON`` in ``storage.models``. The values are
sealed with a ``MultiFernet`` built from ``SDR_SECRET_KEY`` (comma-separated keys: the first encrypts, every
key decrypts, so a key is rotated by putting the new one first and restarting — start-up re-seals every row
with the first key). Stored values carry the ``fernet:`` prefix; a value without it is a plaintext row from
before encryption, which start-up encrypts (``secrets_boot.prepare_secrets``).

Each ``Database`` binds its ``SecretBox`` to its engine's dialect, so two apps in one process (tests) keep
their own keys and the column types need no global key. Without a box a secret can be neither written nor
read: ``SecretsUnavailable`` says to set ``SDR_SECRET_KEY``.
"""

from __future__ import annotations

import json
from typing import Any
from weakref import WeakKeyDictionary

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "fernet:"


class SecretsUnavailable(RuntimeError):
    """A secret must be stored or read but this process has no usable ``SDR_SECRET_KEY``."""


class SecretKeyError(ValueError):
    """``SDR_SECRET_KEY`` is not a list of Fernet keys."""


class SecretBox:
    """Seals and opens secret strings with the configured keys (first key = current)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("SDR_SECRET_KEY holds no key")
        try:
            fernets = [Fernet(key.encode()) for key in keys]
            self._primary = fernets[0]
            self._fernet = MultiFernet(fernets)
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "SDR_SECRET_KEY must be one or more comma-separated Fernet keys "
                "(generate one with `sdr-agent secrets generate-key`)"
            ) from exc

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        return cls([part.strip() for part in value.split(",") if part.strip()])

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        if not is_sealed(stored):
            raise SecretsUnavailable("a secret is stored in plaintext; restart the server to encrypt it")
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnavailable("a stored secret does not open with any key in SDR_SECRET_KEY") from exc

    def opens_with_primary(self, stored: str) -> bool:
        try:
            self._primary.decrypt(stored.removeprefix(PREFIX).encode())
        except InvalidToken:
            return False
        return is_sealed(stored)

    def reseal(self, stored: str) -> str:
        """Plaintext → sealed; sealed with an older key → sealed with the current one."""
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            return PREFIX + self._fernet.rotate(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnavailable("a stored secret does not open with any key in SDR_SECRET_KEY") from exc


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


_BOXES: WeakKeyDictionary[Dialect, SecretBox] = WeakKeyDictionary()


def bind_box(dialect: Dialect, box: SecretBox | None) -> None:
    """Make ``box`` the key ring of every secret column read or written through this dialect (one engine)."""
    if box is None:
        _BOXES.pop(dialect, None)
    else:
        _BOXES[dialect] = box


def box_for(dialect: Dialect) -> SecretBox:
    box = _BOXES.get(dialect)
    if box is None:
        raise SecretsUnavailable(
            "this server has no SDR_SECRET_KEY, so it cannot store or read secrets (tokens, webhook secrets)"
        )
    return box


class EncryptedString(TypeDecorator[str]):
    """A ``str`` column stored sealed (``fernet:…``); Python code only ever sees the plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return box_for(dialect).seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return box_for(dialect).open(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value (e.g. a tool's auth headers) stored sealed as one encrypted string."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return box_for(dialect).seal(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(box_for(dialect).open(value))

