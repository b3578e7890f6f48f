"""ElevenLabs webhook signatures.

Header ``ElevenLabs-Signature: t=<unix>,v0=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
signed over the exact bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "ElevenLabs-Signature"
# Receivers (the official SDK included) reject signatures older than this.
TOLERANCE_S = 30 * 60


class SignatureError(ValueError):
    """A signature header that is missing, malformed, stale or does not match the body."""


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header value for exactly these body bytes."""
    if not secret:
        raise SignatureError("webhook secret is empty")
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v0={digest}"


def verify(
    body: bytes, header: str, secret: str, *, now: float | None = None, tolerance_s: int = TOLERANCE_S
) -> None:
    """Check a header the way receivers do; raises SignatureError. Used by our own tests and tools."""
    if not header:
        raise SignatureError("missing signature header")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    raw_t, presented = parts.get("t"), parts.get("v0")
    if not raw_t or not presented or not raw_t.isdigit():
        raise SignatureError("signature header lacks t= or v0=")
    current = time.time() if now is None else now
    if int(raw_t) < current - tolerance_s:
        raise SignatureError("signature timestamp outside the tolerance window")
    expected = sign(body, secret, int(raw_t)).split("v0=", 1)[1]
    if not hmac.compare_digest(expected, presented):
        raise SignatureError("signature does not match the body")
