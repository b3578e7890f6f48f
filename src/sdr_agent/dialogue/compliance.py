"""Rules the dialogue enforces itself, whatever a language model would say: an honest answer to "are you a
robot?", an opt-out honoured at once, one calm line and a goodbye for a hostile caller, an apology for a wrong
number, an English-only notice for another language, a voicemail message, and the maximum call length.

``ComplianceMove`` is the typed result other parts read (campaigns turn an ``OPT_OUT`` into a suppression
entry; the conversation record carries ``metadata["opt_out"]`` as soon as it is detected).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sdr_agent.dialogue.guardrails import SaidLog
from sdr_agent.dialogue.intents import normalize_utterance
from sdr_agent.dialogue.language import follow_up_line
from sdr_agent.dialogue.lexicon import OPT_OUT, Signal
from sdr_agent.dialogue.persona import AgentPersona
from sdr_agent.dialogue.sales_script import CONTINUE_ASKS
from sdr_agent.dialogue.signals import TurnSignals


class ComplianceMove(StrEnum):
    OPT_OUT = "opt_out"
    AI_DISCLOSURE = "ai_disclosure"
    HOSTILE_EXIT = "hostile_exit"
    WRONG_NUMBER = "wrong_number"
    OTHER_LANGUAGE = "other_language"
    VOICEMAIL = "voicemail"
    MAX_DURATION = "max_duration"


@dataclass(frozen=True, slots=True)
class ComplianceDecision:
    move: ComplianceMove
    lines: tuple[str, ...]
    ends_call: bool
    phrase: str = ""  # the caller's words behind it (opt-out)


@dataclass(frozen=True, slots=True)
class OptOut:
    """A caller's request not to be called again, as stored in ``metadata["opt_out"]``."""

    phrase: str
    time_in_call_secs: float

    def as_metadata(self) -> dict[str, object]:
        return {"phrase": self.phrase, "time_in_call_secs": round(self.time_in_call_secs, 2)}


def detect_opt_out(text: str) -> str | None:
    """The caller's opt-out words in ``text`` (None when it is not an opt-out). Patterns only: the
    embedding-backed paraphrase check runs inside a call's dialogue."""
    match = OPT_OUT.search(normalize_utterance(text))
    return match.group(0) if match else None


def disclosure_lines(persona: AgentPersona) -> tuple[str, ...]:
    company = persona.company
    on_behalf = f" calling on behalf of {company}" if company else ""
    return (
        f"I'm an AI assistant{on_behalf}.",
        f"Good question. I'm an AI assistant{' working with the ' + company + ' team' if company else ''}.",
        "To be clear, you're speaking with an AI assistant.",
        "I'm an AI, not a person.",
    )


def first_message_disclosure(persona: AgentPersona) -> str:
    company = f" on behalf of {persona.company}" if persona.company else ""
    return f"Just so you know, I'm an AI assistant calling{company}."


@dataclass(frozen=True, slots=True)
class CallRules:
    persona: AgentPersona
    said: SaidLog
    languages: frozenset[str]  # languages the call's voice can speak
    voicemail_message: str
    max_duration_s: float | None

    def _fresh(self, options: tuple[str, ...]) -> str:
        return self.said.fresh(options) or ""

    def decide(
        self, signals: TurnSignals, text: str, *, detect_voicemail: bool, elapsed_s: float
    ) -> ComplianceDecision | None:
        signal = signals.signal
        if detect_voicemail and signals.voicemail_like:
            return ComplianceDecision(ComplianceMove.VOICEMAIL, (self.voicemail_message,), True)
        if signal is Signal.OPT_OUT:
            line = self._fresh(
                (
                    "Understood, I'll make sure we don't contact you again. Sorry for the interruption, "
                    "goodbye.",
                    "Of course. You won't hear from us again. Have a good day, goodbye.",
                )
            )
            return ComplianceDecision(ComplianceMove.OPT_OUT, (line,), True, signals.phrase or text)
        if signal is Signal.AI_QUESTION:
            answer = self._fresh(disclosure_lines(self.persona))
            return ComplianceDecision(
                ComplianceMove.AI_DISCLOSURE, (answer, self._fresh(CONTINUE_ASKS)), False
            )
        if signal is Signal.HOSTILE:
            company = f" from {self.persona.company}" if self.persona.company else ""
            return ComplianceDecision(
                ComplianceMove.HOSTILE_EXIT,
                (
                    f"I understand, and I'm sorry to have bothered you. This is a genuine call{company}, "
                    "but I won't "
                    "take any more of your time. Goodbye.",
                ),
                True,
            )
        if signal is Signal.WRONG_NUMBER:
            return ComplianceDecision(
                ComplianceMove.WRONG_NUMBER,
                ("My apologies for the mix-up, I'll update our records. Have a good day, goodbye.",),
                True,
            )
        if signals.language:
            return ComplianceDecision(
                ComplianceMove.OTHER_LANGUAGE, (follow_up_line(signals.language, self.languages),), True
            )
        if self.max_duration_s is not None and elapsed_s >= self.max_duration_s:
            return ComplianceDecision(
                ComplianceMove.MAX_DURATION,
                (
                    "I don't want to keep you any longer, so I'll let you go. "
                    "Someone will follow up with you. "
                    "Thanks for your time, goodbye.",
                ),
                True,
            )
        return None
