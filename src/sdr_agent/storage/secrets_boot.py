"""Start-up for secrets at rest: find the key, refuse to start without one, encrypt and re-key stored rows.

Every column declared ``EncryptedString``/``EncryptedJSON`` in ``storage.models`` is found from the metadata,
so a new secret column (tool credentials, provider keys) is covered the moment it is declared.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sdr_agent.settings import Settings
from sdr_agent.storage.models import Base
from sdr_agent.storage.secrets import EncryptedJSON, EncryptedString, SecretBox, SecretsUnavailable

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class MissingSecretKey(SecretsUnavailable):
    """Stored secrets exist but no key was configured: the server must not start."""


@dataclass(frozen=True, slots=True)
class SecretColumn:
    table: str
    keys: tuple[str, ...]
    column: str


def secret_columns() -> list[SecretColumn]:
    found: list[SecretColumn] = []
    for table in Base.metadata.sorted_tables:
        pk = tuple(c.name for c in table.primary_key.columns)
        for column in table.columns:
            if isinstance(column.type, EncryptedString | EncryptedJSON):
                found.append(SecretColumn(table.name, pk, column.name))
    return found


def configured_key(settings: Settings) -> str | None:
    """``SDR_SECRET_KEY``, else a key generated earlier into ``data_dir/secret.key``."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value().strip():
        return settings.secret_key.get_secret_value()
    path = settings.data_dir / KEY_FILE
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def prepare_secrets(settings: Settings, engine: AsyncEngine) -> SecretBox:
    """The key ring for this process. Encrypts plaintext rows and re-seals rows under an older key.

    Raises ``MissingSecretKey`` when secrets are stored and no key is configured, and ``SecretsUnavailable``
    when stored secrets open with none of the configured keys (a wrong or missing key after rotation).
    """
    columns = secret_columns()
    key = configured_key(settings)
    async with engine.begin() as conn:
        stored = await _count_stored(conn, columns)
        if key is None:
            if stored:
                raise MissingSecretKey(
                    f"the database holds {stored} stored secret(s) but SDR_SECRET_KEY is not set; "
                    "refusing to start (set the key the secrets were encrypted with)"
                )
            key = _generate_key_file(settings.data_dir)
        box = SecretBox.from_setting(key)
        changed = await _reseal_all(conn, columns, box)
    if changed:
        log.info("encrypted or re-keyed %d stored secret(s)", changed)
    return box


async def _count_stored(conn: AsyncConnection, columns: list[SecretColumn]) -> int:
    total = 0
    for col in columns:
        table = sa.table(col.table, sa.column(col.column, sa.Text))
        query = sa.select(sa.func.count()).select_from(table).where(table.c[col.column].is_not(None))
        total += int((await conn.execute(query)).scalar_one())
    return total


async def _reseal_all(conn: AsyncConnection, columns: list[SecretColumn], box: SecretBox) -> int:
    changed = 0
    for col in columns:
        fields = [sa.column(k, sa.Text) for k in col.keys]
        table = sa.table(col.table, *fields, sa.column(col.column, sa.Text))
        value_col = table.c[col.column]
        rows = (await conn.execute(
            sa.select(*(table.c[k] for k in col.keys), value_col).where(value_col.is_not(None))
        )).all()
        for row in rows:
            stored = str(row[-1])
            # Rows already sealed under the current key stay as they are (rotate would make a new token).
            if box.opens_with_primary(stored):
                continue
            resealed = box.reseal(stored)
            where = sa.and_(*(table.c[k] == row[i] for i, k in enumerate(col.keys)))
            await conn.execute(sa.update(table).where(where).values({col.column: resealed}))
            changed += 1
    return changed


def _generate_key_file(data_dir: Path) -> str:
    """A fresh key for a database with no secrets yet, readable only by this user."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    key = SecretBox.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.warning(
        "SDR_SECRET_KEY is not set: generated a key into %s. Back it up, and set SDR_SECRET_KEY instead when "
        "running several replicas (each needs the same key).", path,
    )
    return key
