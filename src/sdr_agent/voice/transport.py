"""What the call loop needs from the media connection (a Twilio Media Stream in production)."""

from __future__ import annotations

from typing import Protocol


class MediaTransport(Protocol):
    async def send_media(self, ulaw: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...
