"""Call phases: CALL_START → DISCOVERY → ACTIVE → COMPLETION (the seed's call state machine)."""

from __future__ import annotations

from enum import StrEnum

from sdr_agent.dialogue.intents import Intent


class CallPhase(StrEnum):
    CALL_START = "CALL_START"
    DISCOVERY = "DISCOVERY"
    ACTIVE = "ACTIVE"
    COMPLETION = "COMPLETION"


class PhaseTracker:
    """Moves the call forward one caller turn at a time; never moves backwards.

    The greeting exchange is CALL_START; the next ``discovery_exchanges`` caller turns are DISCOVERY
    (qualifying questions); after that, or as soon as the caller asks for an action, the call is ACTIVE.
    A goodbye (or any hang-up decision) ends in COMPLETION.
    """

    def __init__(self, discovery_exchanges: int = 2) -> None:
        self._phase = CallPhase.CALL_START
        self._discovery_exchanges = discovery_exchanges
        self._discovery_turns = 0
        self.caller_turns = 0

    @property
    def phase(self) -> CallPhase:
        return self._phase

    def on_caller_turn(self, intent: Intent) -> CallPhase:
        """Phase in which this caller turn is answered."""
        self.caller_turns += 1
        if self._phase is CallPhase.COMPLETION:
            return self._phase
        if intent is Intent.GOODBYE:
            self._phase = CallPhase.COMPLETION
        elif self._phase is CallPhase.CALL_START:
            greeting_only = intent in (Intent.HELLO, Intent.CONFIRM) and self.caller_turns == 1
            self._phase = CallPhase.CALL_START if greeting_only else CallPhase.DISCOVERY
            if self._phase is CallPhase.DISCOVERY:
                self._discovery_turns = 1
            if intent is Intent.ACTION:
                self._phase = CallPhase.ACTIVE
        elif self._phase is CallPhase.DISCOVERY:
            self._discovery_turns += 1
            if intent is Intent.ACTION or self._discovery_turns > self._discovery_exchanges:
                self._phase = CallPhase.ACTIVE
        return self._phase

    def after_turn(self) -> None:
        """The greeting exchange is over once it has been answered."""
        if self._phase is CallPhase.CALL_START and self.caller_turns >= 1:
            self._phase = CallPhase.DISCOVERY
            self._discovery_turns = 0

    def activate(self) -> None:
        """A tool ran or a meeting is being set up: the call is past qualifying."""
        if self._phase in (CallPhase.CALL_START, CallPhase.DISCOVERY):
            self._phase = CallPhase.ACTIVE

    def complete(self) -> None:
        self._phase = CallPhase.COMPLETION
