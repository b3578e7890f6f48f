"""Post-call analysis by the configured LLM: one JSON answer, parsed and validated field by field.

Anything the model leaves out or gets wrong (unknown ids, a result outside success/failure/unknown, a value
of the wrong type) is taken from the rule-based analysis instead, so the result always has every field.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sdr_agent.analysis.analyzer import RESULTS, AnalysisInput, coerce_value
from sdr_agent.engines.base import ChatMessage, LanguageModel, LLMFinished, LLMRequest, TextDelta

_TRANSCRIPT_CHARS = 12000
_SUMMARY_CHARS = 600

_SYSTEM = (
    "You analyse finished sales-development phone calls. Reply with ONE JSON object and nothing else:\n"
    '{"call_successful": "success"|"failure"|"unknown", "transcript_summary": "<2-4 sentences>", '
    '"call_summary_title": "<3-6 words>", '
    '"evaluation_criteria_results": {"<criteria id>": {"result": "success"|"failure"|"unknown", '
    '"rationale": "<one sentence>"}}, '
    '"data_collection_results": {"<field id>": {"value": <value of the field type or null>, '
    '"rationale": "<one sentence>"}}}\n'
    "Judge only from the transcript and the facts given. Use null when a value was not mentioned."
)


class LLMAnalysisError(ValueError):
    """The model's answer was missing, late, not JSON, or not the requested object."""


def build_request(inp: AnalysisInput, facts_hint: dict[str, Any]) -> LLMRequest:
    lines = [f"{'caller' if t.role == 'user' else 'agent'}: {t.message}" for t in inp.turns if t.message]
    transcript = "\n".join(lines)[-_TRANSCRIPT_CHARS:]
    criteria = [
        {"id": c["id"], "name": c.get("name", ""), "goal": c.get("conversation_goal_prompt", "")}
        for c in inp.criteria
    ]
    fields = {
        k: {"type": v.get("type", "string"), "description": v.get("description", "")}
        for k, v in inp.data_collection.items()
    }
    user = (
        f"Transcript:\n{transcript or '(the caller never spoke)'}\n\n"
        f"Known facts: {json.dumps(facts_hint, default=str)}\n"
        f"Evaluation criteria: {json.dumps(criteria)}\n"
        f"Data collection fields: {json.dumps(fields)}"
    )
    return LLMRequest(
        messages=[ChatMessage(role="system", content=_SYSTEM), ChatMessage(role="user", content=user)],
        temperature=0.0,
        max_tokens=800,
    )


async def ask_model(llm: LanguageModel, request: LLMRequest, timeout_s: float) -> str:
    async def collect() -> str:
        parts: list[str] = []
        stream = llm.stream(request)
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, LLMFinished):
                    break
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()
        return "".join(parts)

    try:
        return await asyncio.wait_for(collect(), timeout_s)
    except TimeoutError as exc:
        raise LLMAnalysisError(f"no answer within {timeout_s:.1f} s") from exc


def parse_answer(text: str) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise LLMAnalysisError("the answer holds no JSON object")
    try:
        answer = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise LLMAnalysisError(f"the answer is not valid JSON: {exc.msg}") from exc
    if not isinstance(answer, dict):
        raise LLMAnalysisError("the answer is not a JSON object")
    return answer


def merge_answer(answer: dict[str, Any], inp: AnalysisInput, fallback: dict[str, Any]) -> dict[str, Any]:
    """Validated model fields over the rule-based analysis."""
    merged = dict(fallback)
    merged["analysis_method"] = "llm"
    if answer.get("call_successful") in RESULTS:
        merged["call_successful"] = answer["call_successful"]
    for key, limit in (("transcript_summary", _SUMMARY_CHARS), ("call_summary_title", 80)):
        value = answer.get(key)
        if isinstance(value, str) and value.strip():
            merged[key] = value.strip()[:limit]
    merged["evaluation_criteria_results"] = _merge_criteria(
        answer.get("evaluation_criteria_results"), fallback["evaluation_criteria_results"]
    )
    merged["data_collection_results"] = _merge_fields(
        answer.get("data_collection_results"), inp, fallback["data_collection_results"]
    )
    return merged


def _merge_criteria(given: object, fallback: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    results = {k: dict(v) for k, v in fallback.items()}
    if not isinstance(given, dict):
        return results
    for key in results:
        item = given.get(key)
        if isinstance(item, dict) and item.get("result") in RESULTS:
            results[key] = {
                "criteria_id": key,
                "result": item["result"],
                "rationale": str(item.get("rationale") or "")[:500],
            }
    return results


def _merge_fields(
    given: object, inp: AnalysisInput, fallback: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    results = {k: dict(v) for k, v in fallback.items()}
    if not isinstance(given, dict):
        return results
    for key, spec in inp.data_collection.items():
        item = given.get(key)
        if not isinstance(item, dict) or "value" not in item:
            continue
        value = coerce_value(item["value"], str(spec.get("type") or "string"))
        if item["value"] is not None and value is None:
            continue
        if value is None and results.get(key, {}).get("value") is not None:
            continue  # the rules found something the model missed
        results[key] = {
            "data_collection_id": key,
            "value": value,
            "rationale": str(item.get("rationale") or "")[:500],
        }
    return results


async def llm_analysis(
    llm: LanguageModel, inp: AnalysisInput, fallback: dict[str, Any], timeout_s: float
) -> dict[str, Any]:
    """Raises LLMAnalysisError (or the engine's own error); the caller falls back to ``fallback``."""
    facts_hint = {
        "call_successful_by_rules": fallback.get("call_successful"),
        "meeting_booked": bool(inp.meetings) or fallback.get("call_summary_title") == "Meeting booked",
        "dialogue_state": inp.dialogue_state,
    }
    text = await ask_model(llm, build_request(inp, facts_hint), timeout_s)
    return merge_answer(parse_answer(text), inp, fallback)
