"""Signed realtime-socket URLs: short-lived, single-use, verifiable by any replica.

A signature is ``<nonce>.<expiry unix>.<HMAC-SHA256(key, "agent_id.nonce.expiry")>``. The HMAC turns away a
forged or tampered signature without touching the database; the nonce row (``conversation_signatures``) is
consumed by one conditional UPDATE, so a second use is refused on every replica. The key is the configured
``SDR_REALTIME__SIGNING_SECRET`` or, without one, derived from the API keys, which all replicas share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from sqlalchemy import update

from sdr_agent.services import Services
from sdr_agent.storage.models import ConversationSignatureRow

_NONCE_BYTES = 18


@dataclass(frozen=True, slots=True)
class SignedUrl:
    url: str
    signature: str
    expires_at: int


def _key(services: Services) -> bytes:
    configured = services.settings.realtime.signing_secret
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    keys = sorted(k.get_secret_value() for k in services.settings.api_keys)
    return hashlib.sha256(("sdr-agent realtime signature\0" + "\0".join(keys)).encode()).digest()


def _mac(key: bytes, agent_id: str, nonce: str, expires: int) -> str:
    digest = hmac.new(key, f"{agent_id}.{nonce}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def socket_base(public_base_url: str, request_base_url: str) -> str:
    """ws(s)://host of the socket. The request's own host wins (the client reached us there); the public
    URL's scheme is kept when it names the same host (TLS ends at a proxy in front of us)."""
    public = urlsplit(public_base_url)
    seen = urlsplit(request_base_url)
    scheme = public.scheme if public.netloc == seen.netloc else seen.scheme
    return f"{'wss' if scheme == 'https' else 'ws'}://{seen.netloc}"


async def issue(services: Services, agent_id: str, ws_base: str) -> SignedUrl:
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    ttl = services.settings.realtime.signed_url_ttl_s
    expires = int(time.time() + ttl)
    async with services.db.session() as db:
        db.add(ConversationSignatureRow(
            nonce=nonce, agent_id=agent_id, expires_at=datetime.fromtimestamp(expires, UTC),
            created_at=datetime.now(UTC),
        ))
    signature = f"{nonce}.{expires}.{_mac(_key(services), agent_id, nonce, expires)}"
    url = (
        f"{ws_base}/v1/convai/conversation?agent_id={quote(agent_id, safe='')}"
        f"&conversation_signature={quote(signature, safe='')}"
    )
    return SignedUrl(url=url, signature=signature, expires_at=expires)


async def consume(services: Services, agent_id: str, signature: str | None) -> str | None:
    """None when the signature is good (and now used up), else why it is refused."""
    if not signature:
        return "missing conversation_signature"
    parts = signature.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return "malformed conversation_signature"
    nonce, expires_text, mac = parts
    expires = int(expires_text)
    if not hmac.compare_digest(mac, _mac(_key(services), agent_id, nonce, expires)):
        return "invalid conversation_signature"
    now = datetime.now(UTC)
    if expires <= now.timestamp():
        return "expired conversation_signature"
    async with services.db.session() as db:
        result = await db.execute(
            update(ConversationSignatureRow)
            .where(
                ConversationSignatureRow.nonce == nonce,
                ConversationSignatureRow.agent_id == agent_id,
                ConversationSignatureRow.used_at.is_(None),
                ConversationSignatureRow.expires_at > now,
            )
            .values(used_at=now)
        )
    if getattr(result, "rowcount", 0) != 1:
        return "conversation_signature already used or unknown"
    return None


async def purge_expired(services: Services, older_than_s: float = 3600.0) -> None:
    """Drop rows long past expiry (called on each issue, cheaply, so the table stays small)."""
    from sqlalchemy import delete

    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    async with services.db.session() as db:
        await db.execute(delete(ConversationSignatureRow).where(ConversationSignatureRow.expires_at < cutoff))
