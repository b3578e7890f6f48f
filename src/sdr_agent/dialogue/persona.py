"""Who the agent is on this call, read from its own configuration: its name, its company, what it sells and
why it is calling.

The offline responder cannot *read* a prompt, so these few facts are pulled out of the prompt and the first
message with patterns that match how people write agent prompts ("You are Maya, an SDR at Northwind",
"Hi, this is Maya from Northwind. I'm calling about ..."). An agent may also state them outright in
``conversation_config.agent.sdr_profile`` (keys as in ``AgentPersona``), which always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdr_agent.dialogue.variables import substitute

_NAME = r"([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)"
_ORG = r"([A-Z][\w&'-]*(?:\.[a-z]{2,4}\b)?(?:\s(?:[A-Z][\w&'-]*(?:\.[a-z]{2,4}\b)?|of|and|&))*)"
_AGENT_NAME = (
    re.compile(r"\b(?:[Yy]ou are|[Yy]ou're)\s+(?!an?\b|the\b)" + _NAME + r"\b"),
    re.compile(r"\b[Yy]our name is\s+" + _NAME),
    re.compile(
        r"\b(?:[Tt]his is|[Mm]y name is|I'm|I am|[Ii]t's|[Ii]t is)\s+"
        + _NAME
        + r"\s+(?:from|with|at|calling)\b"
    ),
    re.compile(r"\b" + _NAME + r"\s+here\s+(?:from|with|at)\b"),
)
_COMPANY = (
    re.compile(
        r"\b(?:from|with|at|for|of)\s+(?:the\s+)?" + _ORG + r"\s*(?:[,.!?;]|$|\s(?:and|to|who|calling|"
        r"where|which|that|about|I'm|we))"
    ),
    re.compile(r"\b[Yy]ou (?:work|represent)\s+(?:at|for)?\s*" + _ORG),
)
_PRODUCT = (
    re.compile(r"\b(?:calling|reaching out|following up) about\s+(?:our\s+|the\s+)?" + _ORG),
    re.compile(
        r"\b(?:sell|sells|selling|represent|representing|promote|promoting|introduce|introducing)\s+"
        r"(?:our\s+|the\s+)?" + _ORG
    ),
    re.compile(r"\b(?:product|platform|service|tool|app|software) (?:is )?(?:called|named)\s+" + _ORG),
    re.compile(r"(?:^|[.!?]\s+)" + _ORG + r",?\s+(?:is|helps)\s+(?:an?\s|the\s)"),
)
_PURPOSE = (
    re.compile(r"\b(?:I'm|I am|we're|we are) (?:calling|reaching out) (?:because|to|about)\s+([^.!?]+)"),
    re.compile(
        r"\b(?:[Yy]our|[Tt]he) (?:goal|objective|purpose|job|task)(?: on this call| of (?:the|this) call)?"
        r" is (?:to\s+)?([^.!?]+)"
    ),
    re.compile(r"\b[Yy]ou(?:'re| are) calling (?:to|because|about)\s+([^.!?]+)"),
)
# Words the capitalised-phrase patterns must not take for a name or a company.
_NOT_PROPER_TEXT = (
    "I You Your We Our The A An This That Hi Hello Hey Thanks Thank Please Be Keep Always Never Do Don't "
    "If When AI SDR Sales Development Representative Ask Use Answer Goal"
)
_NOT_PROPER = frozenset(_NOT_PROPER_TEXT.split())


@dataclass(frozen=True, slots=True)
class AgentPersona:
    agent_name: str = ""
    company: str = ""
    product: str = ""
    purpose: str = ""  # "I'm calling ..." completion, e.g. "to see whether Ledgerly could help your team"

    def introduction(self) -> str:
        """ "This is Maya from Northwind." (as much of it as is known)."""
        if self.agent_name and self.company:
            return f"This is {self.agent_name} from {self.company}."
        if self.agent_name:
            return f"This is {self.agent_name}."
        if self.company:
            return f"I'm calling from {self.company}."
        return ""

    def reason(self) -> str:
        """Why the agent is calling, as one spoken sentence ("" when nothing is known)."""
        if self.purpose:
            purpose = self.purpose.strip()
            if purpose.lower().startswith(("to ", "because ", "about ")):
                return f"I'm calling {purpose}."
            return f"I'm calling about {purpose}."
        if self.product:
            return f"I'm calling about {self.product}."
        return ""


def _clean(value: str) -> str:
    words = value.strip(" ,.;:!?'\"").split()
    while words and words[-1] in _NOT_PROPER | {"and", "of", "&"}:
        words.pop()
    return " ".join(words)


def _first(patterns: tuple[re.Pattern[str], ...], texts: tuple[str, ...], skip: tuple[str, ...] = ()) -> str:
    for text in texts:
        for pattern in patterns:
            for match in pattern.finditer(text):
                value = _clean(match.group(1))
                if value and value.split()[0] not in _NOT_PROPER and value not in skip:
                    return value
    return ""


def _purpose(texts: tuple[str, ...]) -> str:
    for text in texts:
        for pattern in _PURPOSE:
            match = pattern.search(text)
            if match:
                found = " ".join(match.group(1).split()).rstrip(",;: ")
                # "Your goal is to book a meeting" describes the agent's job, not what it tells the caller.
                if pattern is _PURPOSE[1]:
                    continue
                return found
    return ""


def read_persona(
    agent_config: Mapping[str, Any], *, agent_name: str = "", values: Mapping[str, Any] | None = None
) -> AgentPersona:
    """The persona of the agent whose ``conversation_config`` this is (variables substituted)."""
    values = values or {}
    agent = agent_config.get("agent") or {}
    prompt = agent.get("prompt") or {}
    first = substitute(str(agent.get("first_message") or ""), values)
    system = substitute(str(prompt.get("prompt") or ""), values)
    texts = (first, system)
    name = _first(_AGENT_NAME, texts)
    company = _first(_COMPANY, texts, skip=(name,))
    product = _first(_PRODUCT, (system, first), skip=(name, company))
    found = AgentPersona(agent_name=name, company=company, product=product, purpose=_purpose(texts))
    profile = agent.get("sdr_profile")
    if isinstance(profile, Mapping):
        overrides = {
            key: substitute(str(profile[key]), values).strip()
            for key in ("agent_name", "company", "product", "purpose")
            if isinstance(profile.get(key), str) and str(profile[key]).strip()
        }
        found = AgentPersona(**{**_as_dict(found), **overrides})
    if not found.agent_name and _looks_like_person(agent_name):
        found = AgentPersona(**{**_as_dict(found), "agent_name": agent_name.strip()})
    return found


def _as_dict(persona: AgentPersona) -> dict[str, str]:
    return {
        "agent_name": persona.agent_name,
        "company": persona.company,
        "product": persona.product,
        "purpose": persona.purpose,
    }


def _looks_like_person(name: str) -> bool:
    """An agent record named "Maya" is a person's name; "Northwind SDR bot" is not."""
    words = name.split()
    return (
        len(words) == 1 and bool(re.fullmatch(r"[A-Z][a-z]{1,15}", words[0])) and words[0] not in _NOT_PROPER
    )
