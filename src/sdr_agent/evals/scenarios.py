"""Conversation-eval scenarios: invented products (prompt, first message, knowledge base) and scripted caller
turns, each labelled with the facts the reply must contain, words it must not contain, and the action the
agent must take. Stored as JSON in ``evals/products`` (one file per product); a product marked ``held_out``
was written with the others but never used for tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

ACTIONS = frozenset({"none", "end_call", "book_meeting", "confirm_booking", "voicemail", "transfer"})


class ScenarioError(ValueError):
    """A scenario file that does not follow the format."""


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    agent_name: str
    first_message: str
    prompt: str
    kb: str
    held_out: bool = False


@dataclass(frozen=True, slots=True)
class CallerTurn:
    caller: str
    facts: tuple[str, ...]  # every one must appear in the reply
    any_of: tuple[tuple[str, ...], ...]  # each group: at least one must appear (the reply is on topic)
    must_not: tuple[str, ...]
    action: str


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    about: str
    product: Product
    direction: str
    variables: dict[str, str]
    turns: tuple[CallerTurn, ...]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ScenarioError(f"{where}: expected a list of non-empty strings")
    return tuple(value)


def _turn(raw: Any, where: str) -> CallerTurn:
    if not isinstance(raw, dict) or not isinstance(raw.get("caller"), str):
        raise ScenarioError(f"{where}: a turn needs 'caller' text")
    action = raw.get("action", "none")
    if action not in ACTIONS:
        raise ScenarioError(f"{where}: unknown action {action!r}")
    groups = raw.get("any") or []
    if not isinstance(groups, list):
        raise ScenarioError(f"{where}: 'any' must be a list of lists")
    turn = CallerTurn(
        raw["caller"],
        _strings(raw.get("facts"), where),
        tuple(_strings(group, where) for group in groups),
        _strings(raw.get("not"), where),
        action,
    )
    if not turn.facts and not turn.any_of:
        raise ScenarioError(
            f"{where}: every turn needs 'facts' or 'any' labels, or relevance cannot be judged"
        )
    return turn


def parse_product_file(data: Any, name: str) -> list[Scenario]:
    if not isinstance(data, dict) or not isinstance(data.get("product"), dict):
        raise ScenarioError(f"{name}: needs a 'product' object")
    raw = data["product"]
    try:
        product = Product(
            str(raw["id"]),
            str(raw["agent_name"]),
            str(raw["first_message"]),
            str(raw["prompt"]),
            str(raw["kb"]),
            bool(data.get("held_out", False)),
        )
    except KeyError as exc:
        raise ScenarioError(f"{name}: product lacks {exc}") from None
    scenarios = []
    for index, item in enumerate(data.get("scenarios") or []):
        where = f"{name} scenario {index}"
        if not isinstance(item, dict) or not item.get("turns"):
            raise ScenarioError(f"{where}: needs 'id' and 'turns'")
        turns = tuple(_turn(t, f"{where} turn {i}") for i, t in enumerate(item["turns"]))
        variables = {str(k): str(v) for k, v in (item.get("variables") or {}).items()}
        scenarios.append(
            Scenario(
                str(item.get("id") or f"{product.id}-{index}"),
                str(item.get("about", "")),
                product,
                str(item.get("direction", "outbound")),
                variables,
                turns,
            )
        )
    return scenarios


def load_scenarios(directory: Path | None = None) -> list[Scenario]:
    """Every scenario in ``directory`` (default: the bundled ``evals/products``), sorted by file name."""
    if directory is not None:
        files = sorted(directory.glob("*.json"))
        return [s for f in files for s in parse_product_file(json.loads(f.read_text()), f.name)]
    bundled = resources.files("sdr_agent.evals") / "products"
    out: list[Scenario] = []
    for entry in sorted(bundled.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            out += parse_product_file(json.loads(entry.read_text()), entry.name)
    return out
