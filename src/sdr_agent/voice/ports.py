"""What a call session needs from the outside world, as small protocols (fakes in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sdr_agent.storage.repos.conversations import TurnRecord


@dataclass(frozen=True, slots=True)
class CallOutcome:
    ended_ok: bool
    termination_reason: str
    duration_secs: float
    dialogue_state: dict[str, Any] = field(default_factory=dict)
    audio_path: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


class CallRecordSink(Protocol):
    """Persistence for one call. Every turn is saved the moment it ends."""

    async def save_turn(self, turn: TurnRecord) -> None: ...

    async def merge_metadata(self, patch: dict[str, Any]) -> None: ...

    async def finish(self, outcome: CallOutcome) -> None: ...


class CallControl(Protocol):
    """Acting on the phone call itself (Twilio REST in production)."""

    async def hangup(self) -> None: ...

    async def transfer(self, phone_number: str) -> None: ...


@runtime_checkable
class PreparesReplies(Protocol):
    """A dialogue that can start the side-effect-free part of a reply (lookups) before the turn has ended.

    Called at the caller's first pause with the words so far; the reply itself (``respond``) still starts
    only when the turn ends. Must not change what the dialogue remembers, run tools, or fail loudly."""

    def prepare(self, user_text: str) -> None: ...

