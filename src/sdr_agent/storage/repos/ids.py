"""Public identifiers: a readable prefix plus 26 random lowercase base32 characters."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """``new_id("conv")`` -> ``"conv_<26 chars>"`` (128 random bits, URL-safe, no padding)."""
    token = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{token}"
