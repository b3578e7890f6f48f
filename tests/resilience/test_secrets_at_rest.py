"""Secrets at rest: sealed in the database, migrated from plaintext, re-keyed on rotation, never returned by
the API, and a server with stored secrets but no key refuses to start."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from sdr_agent.app import create_app
from sdr_agent.settings import Settings
from sdr_agent.storage.migrate import upgrade_async
from sdr_agent.storage.secrets import SecretBox, SecretsUnavailable
from sdr_agent.storage.secrets_boot import KEY_FILE, MissingSecretKey
from tests.conftest import API_KEY

pytestmark = pytest.mark.postgres

NUMBER_TOKEN = "imported-number-token-0123456789"


async def _raw(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(sa.text(query))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


async def _with_app(settings: Settings) -> tuple[str, str]:
    """Start the app, import a number with its own token and register a webhook; (number id, secret)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"xi-api-key": API_KEY}
    ) as api:
        number = await api.post("/v1/convai/phone-numbers", json={
            "provider": "twilio", "phone_number": "+15550001111", "label": "x",
            "sid": "AC" + "3" * 32, "token": NUMBER_TOKEN})
        number.raise_for_status()
        hook = await api.post("/v1/workspace/webhooks", json={
            "name": "crm", "webhook_url": "http://127.0.0.1:9/hook", "auth_type": "hmac"})
        hook.raise_for_status()
        number_id = number.json()["phone_number_id"]
        shown = await api.get(f"/v1/convai/phone-numbers/{number_id}")
        listed = await api.get("/v1/workspace/webhooks")
        assert NUMBER_TOKEN not in shown.text and NUMBER_TOKEN not in (await api.get(
            "/v1/convai/phone-numbers")).text
        assert hook.json()["webhook_secret"] not in listed.text
        return number_id, hook.json()["webhook_secret"]


async def _stored(url: str) -> tuple[str, str]:
    [(token,)] = await _raw(url, "SELECT twilio_token FROM phone_numbers")
    [(secret,)] = await _raw(url, "SELECT secret FROM webhook_configs")
    return str(token), str(secret)


async def _start(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass


async def test_sealed_at_rest_and_hidden_from_the_api(settings: Settings) -> None:
    key = SecretBox.generate_key()
    keyed = settings.model_copy(update={"secret_key": SecretStr(key)})
    _, webhook_secret = await _with_app(keyed)
    token, secret = await _stored(settings.database_url)
    assert token.startswith("fernet:") and secret.startswith("fernet:")
    assert NUMBER_TOKEN not in token and webhook_secret not in secret
    box = SecretBox.from_setting(key)
    assert box.open(token) == NUMBER_TOKEN and box.open(secret) == webhook_secret


async def test_refuses_to_start_with_stored_secrets_and_no_key_or_a_wrong_key(settings: Settings) -> None:
    await _with_app(settings.model_copy(update={"secret_key": SecretStr(SecretBox.generate_key())}))
    with pytest.raises(MissingSecretKey):
        await _start(settings.model_copy(update={"secret_key": None}))
    with pytest.raises(SecretsUnavailable):
        await _start(settings.model_copy(update={"secret_key": SecretStr(SecretBox.generate_key())}))
    assert not (settings.data_dir / KEY_FILE).exists()  # no key is invented for a database with secrets


async def test_plaintext_rows_from_before_are_encrypted_at_start(settings: Settings) -> None:
    await upgrade_async(settings.database_url)
    await _raw(settings.database_url, (
        "INSERT INTO phone_numbers (phone_number_id, phone_number, label, provider, twilio_sid, twilio_token,"
        " supports_inbound, supports_outbound, created_at, updated_at) VALUES ('phnum_old', '+15550002222',"
        f" 'old', 'twilio', 'AC{'4' * 32}', '{NUMBER_TOKEN}', true, true,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    # No key and a plaintext secret: refuse (never invent a key that would then hide the only copy).
    with pytest.raises(MissingSecretKey):
        await _start(settings)
    key = SecretBox.generate_key()
    await _start(settings.model_copy(update={"secret_key": SecretStr(key)}))
    [(token,)] = await _raw(settings.database_url, "SELECT twilio_token FROM phone_numbers")
    assert str(token).startswith("fernet:") and SecretBox.from_setting(key).open(str(token)) == NUMBER_TOKEN


async def test_rotation_reseals_every_row_with_the_new_key(settings: Settings) -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    _, webhook_secret = await _with_app(settings.model_copy(update={"secret_key": SecretStr(old)}))
    await _start(settings.model_copy(update={"secret_key": SecretStr(f"{new},{old}")}))
    token, secret = await _stored(settings.database_url)
    only_new = SecretBox.from_setting(new)
    assert only_new.open(token) == NUMBER_TOKEN and only_new.open(secret) == webhook_secret
    await _start(settings.model_copy(update={"secret_key": SecretStr(new)}))  # the old key can be dropped


async def test_a_fresh_server_without_a_key_generates_a_private_key_file(settings: Settings) -> None:
    await _with_app(settings.model_copy(update={"secret_key": None}))
    key_file: Path = settings.data_dir / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    token, _ = await _stored(settings.database_url)
    assert SecretBox.from_setting(key_file.read_text().strip()).open(token) == NUMBER_TOKEN
    await _start(settings.model_copy(update={"secret_key": None}))  # the same file opens them next time


async def test_a_tools_credentials_are_sealed_at_rest(client: httpx.AsyncClient, settings: Settings) -> None:
    bearer = "Bearer tool-credential-5f3a9c"
    tool = {"type": "webhook", "name": "crm_lookup", "description": "Look a lead up in the CRM.",
            "api_schema": {"url": "https://crm.example.com/leads", "method": "GET",
                           "request_headers": {"Authorization": bearer}}}
    created = await client.post("/v1/convai/tools", json={"tool_config": tool})
    assert created.status_code == 200, created.text
    [(stored,)] = await _raw(settings.database_url, "SELECT tool_config FROM workspace_tools")
    assert str(stored).startswith("fernet:") and bearer not in str(stored)
    shown = (await client.get(f"/v1/convai/tools/{created.json()['id']}")).json()
    assert shown["tool_config"]["name"] == "crm_lookup"  # read back through the key
