"""The per-agent sales script the composer speaks from: qualifying questions and the meeting pitch read from
the agent's own prompt, objection answers (defaults, overridable in ``sdr_playbook.objections``), and the
variant lines that keep a call from saying the same sentence twice.

Every line here is free of facts and figures, so the offline responder can say it without inventing
anything; numbers only ever come from the knowledge base, the prompt or the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sdr_agent.dialogue.lexicon import Objection

# "Ask how many employees they have" → "Can I ask how many employees you have?"
_ASK = re.compile(
    r"\b[Aa]sk(?: (?:the caller|them|the prospect|prospects|the lead|leads|each caller))?(?: about)? "
    r"((?:how|what|whether|if|who|which|when|where|why)\b[^.!?;\n]{4,120})"
)
_PROMPT_QUESTION = re.compile(r"(?:^|[\"“'\n]|(?<=[.!:]\s))([A-Z][^.!?\"”\n]{8,140}\?)")
_PRONOUNS = (
    (r"\bthey're\b", "you're"),
    (r"\bthey are\b", "you are"),
    (r"\bthey've\b", "you've"),
    (r"\bthey\b", "you"),
    (r"\btheir\b", "your"),
    (r"\bthem\b", "you"),
    (r"\bthemselves\b", "yourselves"),
    (r"\bhis or her\b", "your"),
    (r"\bhe or she\b", "you"),
)
_GOAL = re.compile(
    r"\b(?:book|schedule|set up|arrange|secure|get)\s+(?:a|an|the)\s+((?:[\w-]+\s){0,3}?"
    r"(?:demo|call|meeting|consultation|walkthrough|tasting|visit|assessment|audit|appointment|session|tour))\b",
    re.IGNORECASE,
)

DEFAULT_OBJECTION_LINES: dict[Objection, tuple[str, ...]] = {
    Objection.COMPETITOR: (
        "That makes sense, most teams I speak with already have something in place.",
        "Totally fair, and I'm not asking you to switch anything today.",
    ),
    Objection.PRICE: ("I understand, budget matters.", "That's a fair concern."),
    Objection.BAD_TIMING: ("No problem at all, I don't want to keep you.", "I completely understand."),
    Objection.CALL_LATER: ("Of course.", "Sure thing."),
    Objection.SEND_INFO: ("Happy to send some information over.", "Of course, I can do that."),
    Objection.AUTHORITY: ("That's helpful, thank you.", "Good to know, thanks."),
    Objection.NOT_INTERESTED: ("I understand, and I appreciate you being direct.", "Fair enough."),
}

FOLLOW_UPS = (
    "That's a good question. I don't have that detail in front of me, so I'll follow up with the answer "
    "after "
    "our call.",
    "I want to get that right, so I'll check with the team and get back to you on it.",
    "I'm not certain about that one, so I'll find out and follow up with you.",
    "Let me confirm that with our team rather than guess, and I'll send you the answer.",
)
NUMBER_FOLLOW_UPS = (
    "I'd rather not quote a figure I can't confirm, so I'll follow up with the exact details.",
    "I'll confirm the exact numbers with the team and follow up with you.",
)
ANYTHING_ELSE = (
    "Is there anything else you'd like to know?",
    "What else would be helpful to know?",
    "Any other questions I can answer for you?",
)
# When a long call has used every fresh line the reply would be built from: one of these, said again if it
# must (a repeat beats a silence the caller takes for a dead line).
KEEP_GOING = (
    "I see. Could you tell me a bit more about that?",
    "Okay. What matters most to you there?",
    "Understood. How are you handling that today?",
)
ACKNOWLEDGE_YES = ("Great.", "Perfect.", "Wonderful.", "Sounds good.")
ACKNOWLEDGE_NO = ("Okay, no problem.", "That's fine.", "Understood.")
ACKNOWLEDGE_OTHER = ("Got it, thanks.", "Thanks for sharing that.", "That's helpful to know.", "I see.")
CONTINUE_ASKS = ("Is it alright if I continue?", "Would you like me to go on?", "Shall I keep going?")
DEFAULT_QUESTIONS = (
    "How is your team handling this today?",
    "What would you most like to improve about it?",
    "Who else would be involved in a decision like this?",
)


@dataclass(frozen=True, slots=True)
class SalesScript:
    questions: tuple[str, ...] = DEFAULT_QUESTIONS
    meeting_noun: str = "call"  # what the agent proposes: "demo", "20-minute call", "site visit"
    objection_lines: Mapping[Objection, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_OBJECTION_LINES)
    )

    def pitches(self) -> tuple[str, ...]:
        noun = self.meeting_noun
        return (
            f"Would you be open to a short {noun} to see whether it's a fit?",
            f"Would it be worth setting up a {noun} so you can see it for yourself?",
            f"If it's useful, I could set up a {noun} at a time that suits you. Would that help?",
        )


def _second_person(clause: str) -> str:
    out = clause.strip().rstrip(",;: ")
    for pattern, replacement in _PRONOUNS:
        out = re.sub(pattern, replacement, out)
    return out


def questions_from_prompt(prompt: str) -> tuple[str, ...]:
    """Qualifying questions the prompt asks for: quoted questions, then "ask how/what/whether ..." clauses."""
    found: list[str] = []
    for match in _PROMPT_QUESTION.finditer(prompt):
        question = " ".join(match.group(1).split())
        if not re.match(r"(?i)(?:do you have a minute|is now a good time)", question):
            found.append(question)
    for match in _ASK.finditer(prompt):
        clause = _second_person(match.group(1))
        for part in re.split(r",? and (?=(?:how|what|whether|if|who|which|when)\b)", clause):
            found.append(f"Can I ask {part.strip()}?")
    return tuple(dict.fromkeys(q for q in found if not re.search(r"\{\{", q)))


def meeting_noun(prompt: str, first_message: str = "") -> str:
    match = _GOAL.search(prompt) or _GOAL.search(first_message)
    if not match:
        return "call"
    noun = " ".join(match.group(1).split()).lower()
    return re.sub(r"^(?:short|quick|brief)\s+", "", noun)


def load_script(agent_config: Mapping[str, Any], prompt_text: str, first_message: str) -> SalesScript:
    """The agent's script: ``sdr_playbook.qualifying_questions`` and ``objections`` win; otherwise the
    prompt's own questions; the defaults only when the prompt asks for nothing."""
    playbook = (agent_config.get("agent") or {}).get("sdr_playbook") or {}
    playbook = playbook if isinstance(playbook, Mapping) else {}
    configured = playbook.get("qualifying_questions")
    if isinstance(configured, list) and any(str(q).strip() for q in configured):
        questions = tuple(str(q).strip() for q in configured if str(q).strip())
    else:
        questions = questions_from_prompt(prompt_text) or DEFAULT_QUESTIONS
    lines = dict(DEFAULT_OBJECTION_LINES)
    overrides = playbook.get("objections")
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            try:
                kind = Objection(str(key))
            except ValueError:
                continue
            texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            cleaned = tuple(str(t).strip() for t in texts if str(t).strip())
            if cleaned:
                lines[kind] = cleaned
    return SalesScript(questions, meeting_noun(prompt_text, first_message), lines)
