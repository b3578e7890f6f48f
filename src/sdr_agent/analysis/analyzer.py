"""Post-call analysis in the ElevenLabs shape, decided by deterministic rules over ``CallFacts``.

``{call_successful, transcript_summary, call_summary_title, evaluation_criteria_results,
data_collection_results}``. Criteria (``platform_settings.evaluation.criteria``) and data fields
(``platform_settings.data_collection``) come from the agent; an agent without data fields gets the SDR
defaults (meeting_booked, budget, timeline). A criterion no rule understands is ``unknown``, never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sdr_agent.analysis.facts import CallFacts, gather_facts
from sdr_agent.storage.repos.conversations import TurnRecord

SUCCESS, FAILURE, UNKNOWN = "success", "failure", "unknown"
RESULTS = (SUCCESS, FAILURE, UNKNOWN)
DEFAULT_DATA_COLLECTION: dict[str, dict[str, str]] = {
    "meeting_booked": {"type": "boolean", "description": "Whether a meeting was booked on the call."},
    "budget": {"type": "string", "description": "The budget the prospect mentioned."},
    "timeline": {"type": "string", "description": "When the prospect plans to buy or start."},
}
_SUMMARY_CHARS = 600


@dataclass(slots=True)
class AnalysisInput:
    turns: list[TurnRecord]
    dialogue_state: dict[str, Any] = field(default_factory=dict)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    data_collection: dict[str, dict[str, Any]] = field(default_factory=dict)
    meetings: list[dict[str, Any]] = field(default_factory=list)
    ended_ok: bool = True
    termination_reason: str | None = None
    duration_secs: float = 0.0
    direction: str = "outbound"
    caller_name: str | None = None


def analysis_spec(
    platform_settings: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The agent's evaluation criteria and data-collection fields, cleaned of malformed entries."""
    evaluation = platform_settings.get("evaluation") if isinstance(platform_settings, dict) else None
    raw_criteria = evaluation.get("criteria") if isinstance(evaluation, dict) else None
    criteria = [c for c in (raw_criteria or []) if isinstance(c, dict) and c.get("id")]
    raw_fields = platform_settings.get("data_collection") if isinstance(platform_settings, dict) else None
    fields = {str(k): v for k, v in (raw_fields or {}).items() if isinstance(v, dict)}
    return criteria, fields or dict(DEFAULT_DATA_COLLECTION)


def rules_analysis(inp: AnalysisInput) -> dict[str, Any]:
    facts = gather_facts(inp.turns, inp.dialogue_state, inp.meetings)
    criteria_results = {str(c["id"]): evaluate_criterion(c, facts) for c in inp.criteria}
    data_results = {key: collect_field(key, spec, facts) for key, spec in inp.data_collection.items()}
    return {
        "call_successful": call_outcome(facts, criteria_results, inp.ended_ok),
        "transcript_summary": summarize(facts, inp),
        "call_summary_title": title(facts),
        "evaluation_criteria_results": criteria_results,
        "data_collection_results": data_results,
        "analysis_method": "rules",
    }


def call_outcome(facts: CallFacts, criteria_results: dict[str, dict[str, Any]], ended_ok: bool) -> str:
    if facts.meeting_booked:
        return SUCCESS
    if facts.declined or facts.voicemail or facts.caller_turns == 0:
        return FAILURE
    verdicts = {r["result"] for r in criteria_results.values()} - {UNKNOWN}
    if verdicts:
        return FAILURE if FAILURE in verdicts else SUCCESS
    return UNKNOWN if ended_ok else FAILURE


def title(facts: CallFacts) -> str:
    if facts.meeting_booked:
        return "Meeting booked"
    if facts.voicemail:
        return "Voicemail"
    if facts.caller_turns == 0:
        return "No conversation"
    if facts.declined:
        return "Not interested"
    if facts.human_requested:
        return "Asked for a person"
    if facts.escalation_reason:
        return "Escalated"
    if facts.callback_requested:
        return "Call back requested"
    return "Follow-up needed"


def summarize(facts: CallFacts, inp: AnalysisInput) -> str:
    who = inp.caller_name or facts.caller_name or "the prospect"
    minutes, seconds = divmod(round(inp.duration_secs), 60)
    parts = [
        f"{inp.direction.capitalize()} call with {who} ({minutes}m{seconds:02d}s, "
        f"{facts.caller_turns} caller turns)."
    ]
    if facts.voicemail:
        parts.append("The call reached voicemail.")
    elif facts.caller_turns == 0:
        parts.append("The caller never spoke.")
    if facts.questions:
        asked = "; ".join(_clip(q, 60) for q in facts.questions[:3])
        parts.append(f"They asked: {asked}")
    if facts.objections:
        parts.append(f"Objections: {', '.join(o.replace('_', ' ') for o in facts.objections)}.")
    known = [
        f"{name} {value}" for name, value in (("budget", facts.budget), ("timeline", facts.timeline)) if value
    ]
    if known:
        parts.append("Mentioned " + " and ".join(known) + ".")
    if facts.meeting_booked:
        parts.append(f"A meeting was booked{f' for {facts.meeting_detail}' if facts.meeting_detail else ''}.")
    elif facts.declined:
        parts.append("They declined.")
    elif facts.callback_requested:
        parts.append("They asked to be called back.")
    else:
        parts.append("No meeting was booked.")
    if facts.human_requested:
        parts.append("They asked to speak with a person.")
    if facts.escalation_reason:
        parts.append(f"Escalated: {facts.escalation_reason}.")
    if not inp.ended_ok and inp.termination_reason:
        parts.append(f"The call ended abnormally: {inp.termination_reason}.")
    return _clip(" ".join(parts), _SUMMARY_CHARS)


# ---------------------------------------------------------------- evaluation criteria
Rule = Callable[[CallFacts], tuple[str, str]]


def _meeting_rule(f: CallFacts) -> tuple[str, str]:
    if f.meeting_booked:
        return SUCCESS, "A meeting was booked" + (f" for {f.meeting_detail}." if f.meeting_detail else ".")
    return FAILURE, "No meeting was booked."


def _known(value: str | None, what: str) -> tuple[str, str]:
    return (SUCCESS, f"The {what} was captured: {value}.") if value else (FAILURE, f"No {what} was captured.")


def _objection_rule(f: CallFacts) -> tuple[str, str]:
    if not f.objections:
        return SUCCESS, "The prospect raised no objections."
    if f.declined and not f.meeting_booked:
        return FAILURE, f"Objections ({', '.join(f.objections)}) ended in a refusal."
    return SUCCESS, f"Objections ({', '.join(f.objections)}) were answered and the call went on."


def _question_rule(f: CallFacts) -> tuple[str, str]:
    if not f.questions:
        return UNKNOWN, "The prospect asked no questions."
    if f.unanswered_questions:
        return FAILURE, f"{f.unanswered_questions} of {len(f.questions)} questions got no answer."
    return SUCCESS, f"All {len(f.questions)} questions were answered."


def _interest_rule(f: CallFacts) -> tuple[str, str]:
    if f.meeting_booked:
        return SUCCESS, "The prospect agreed to a meeting."
    if f.declined:
        return FAILURE, "The prospect said they were not interested."
    if f.average_sentiment is not None and f.average_sentiment >= 0.2:
        return SUCCESS, f"The prospect sounded positive (sentiment {f.average_sentiment:+.2f})."
    return UNKNOWN, "The prospect's interest was not clear."


def _sentiment_rule(f: CallFacts) -> tuple[str, str]:
    if f.average_sentiment is None:
        return UNKNOWN, "The prospect said nothing to judge."
    if f.average_sentiment >= 0.05:
        return SUCCESS, f"Average caller sentiment {f.average_sentiment:+.2f}."
    if f.average_sentiment <= -0.2:
        return FAILURE, f"Average caller sentiment {f.average_sentiment:+.2f}."
    return UNKNOWN, f"Average caller sentiment {f.average_sentiment:+.2f} is neutral."


_CRITERIA_RULES: list[tuple[re.Pattern[str], Rule]] = [
    (re.compile(r"meeting|demo|appointment|book|schedul|calendar"), _meeting_rule),
    (re.compile(r"budget"), lambda f: _known(f.budget, "budget")),
    (re.compile(r"timeline|time ?frame|when .* (buy|start)"), lambda f: _known(f.timeline, "timeline")),
    (re.compile(r"e-?mail"), lambda f: _known(f.email, "email address")),
    (re.compile(r"objection"), _objection_rule),
    (re.compile(r"question"), _question_rule),
    (re.compile(r"interest|qualif"), _interest_rule),
    (re.compile(r"sentiment|satisf|happy|positive|frustrat|tone"), _sentiment_rule),
]


def evaluate_criterion(criterion: dict[str, Any], facts: CallFacts) -> dict[str, Any]:
    text = f"{criterion.get('name', '')} {criterion.get('conversation_goal_prompt', '')}".lower()
    for pattern, rule in _CRITERIA_RULES:
        if pattern.search(text):
            result, rationale = rule(facts)
            break
    else:
        result, rationale = (
            UNKNOWN,
            "The offline analyzer has no rule for this goal; configure an LLM to judge it.",
        )
    return {"criteria_id": str(criterion["id"]), "result": result, "rationale": rationale}


# ---------------------------------------------------------------- data collection
def _field_value(key: str, spec: dict[str, Any], facts: CallFacts) -> tuple[object, str]:
    if key in facts.collected:
        return facts.collected[key], "Captured during the call."
    text = f"{key} {spec.get('description', '')}".lower().replace("_", " ")
    if re.search(r"meeting|demo|appointment", text):
        detail = f" for {facts.meeting_detail}" if facts.meeting_detail else ""
        return facts.meeting_booked, (
            "A meeting was booked" + detail
        ) if facts.meeting_booked else "No meeting."
    table: list[tuple[str, object, str]] = [
        (r"budget", facts.budget, "budget"),
        (r"timeline|time ?frame", facts.timeline, "timeline"),
        (r"e-?mail", facts.email, "email"),
        (r"team|employee|headcount|company size|seats", facts.team_size, "team size"),
        (r"objection", ", ".join(facts.objections) or None, "objections"),
        (r"question", "; ".join(facts.questions) or None, "questions"),
        (r"call ?back", facts.callback_requested, "call-back request"),
        (r"sentiment|interest", facts.average_sentiment, "average caller sentiment"),
    ]
    for pattern, value, what in table:
        if re.search(pattern, text):
            found = value not in (None, "")
            return value, (f"The {what} from the transcript." if found else f"No {what} was mentioned.")
    return None, "Not mentioned in the call."


def collect_field(key: str, spec: dict[str, Any], facts: CallFacts) -> dict[str, Any]:
    raw, rationale = _field_value(key, spec, facts)
    value = coerce_value(raw, str(spec.get("type") or "string"))
    if raw is not None and value is None:
        rationale = f"{rationale} (could not be read as {spec.get('type')})"
    return {"data_collection_id": key, "value": value, "rationale": rationale}


def coerce_value(raw: object, kind: str) -> object:
    """A value as the field's declared type (boolean, number, integer, string); None when it does not fit."""
    if raw is None:
        return None
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text)
    if kind in ("number", "integer"):
        number = _as_number(raw)
        if number is None or not math.isfinite(number):
            return None
        return round(number) if kind == "integer" else number
    return raw if isinstance(raw, str) else str(raw)


_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}
_NUMBER = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s*(k|thousand|million|m)?\b")


def _as_number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float):
        return float(raw)
    found = _NUMBER.search(str(raw).lower())
    if not found:
        return None
    return float(found.group(1).replace(",", "")) * _MULTIPLIERS.get(found.group(2) or "", 1.0)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
