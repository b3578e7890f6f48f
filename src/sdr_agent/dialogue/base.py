"""What the voice pipeline asks of the dialogue layer, per call.

The call loop feeds caller turns in and gets a stream of ``DialogueEvent``s back; it tells the
dialogue which agent text the caller actually heard so the history holds only that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SpeakText:
    """Text to speak; may be a fragment of a sentence (the pipeline splits sentences)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolActivity:
    """A tool call and its result, recorded on the current agent turn (ElevenLabs transcript shapes)."""

    tool_call: dict[str, Any]
    tool_result: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EndCall:
    """Hang up after everything queued so far has been heard."""

    reason: str = "agent ended the call"


@dataclass(frozen=True, slots=True)
class TransferCall:
    """Redirect the live call to a number after the handoff line has been heard."""

    phone_number: str


@dataclass(frozen=True, slots=True)
class SendDigits:
    """Play DTMF tones into the call (play_keypad_touch_tone)."""

    digits: str


DialogueEvent = SpeakText | ToolActivity | EndCall | TransferCall | SendDigits


@dataclass(slots=True)
class TurnAnnotations:
    """Facts about the last caller turn, stored with it."""

    intent: str | None = None
    phase: str | None = None
    sentiment: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Dialogue(Protocol):
    """One per call. Created by ``dialogue.factory.build_dialogue``."""

    def opening_line(self) -> str:
        """first_message with variables substituted ("" = wait for the caller)."""
        ...

    def respond(self, user_text: str) -> AsyncIterator[DialogueEvent]:
        """Answer a finished caller turn. Closing the iterator cancels the LLM stream."""
        ...

    def annotate_user_turn(self) -> TurnAnnotations:
        """Intent/phase/sentiment of the caller turn most recently passed to ``respond``."""
        ...

    def record_agent_turn(self, heard_text: str, interrupted: bool) -> None:
        """What the caller actually heard of the last agent turn (history keeps only that)."""
        ...

    def reprompt_line(self) -> str: ...

    def goodbye_line(self) -> str: ...

    def fallback_line(self) -> str:
        """Said when an engine fails mid-turn."""
        ...

    @property
    def phase(self) -> str: ...

    def state_snapshot(self) -> dict[str, Any]:
        """Dialogue facts for post-call analysis (meetings booked, objections, questions)."""
        ...
