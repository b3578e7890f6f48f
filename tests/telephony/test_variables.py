"""Dynamic variables at call set-up."""

from __future__ import annotations

from datetime import UTC, datetime

from sdr_agent.telephony import variables

CONFIG = {
    "agent": {
        "first_message": "Hi {{ name }}, calling about {{plan}}.",
        "prompt": {"prompt": "Today is {{system__time_utc}}. Company: {{company}}. Secret {{secret__key}}."},
        "dynamic_variables": {
            "dynamic_variable_placeholders": {"company": "Acme", "system__x": "no", "n": 3}
        },
    }
}


def test_variables_in_text() -> None:
    assert variables.variables_in("{{a}} {{ b_2 }} {{c-d}} {a}") == {"a", "b_2"}
    assert variables.variables_in("") == set()


def test_missing_ignores_system_secret_and_placeholders() -> None:
    texts = variables.effective_texts(CONFIG, None)
    available = {**variables.placeholder_defaults(CONFIG), "name": "Ann"}

    assert variables.missing_variables(texts, available) == ["plan"]
    assert variables.missing_variables(texts, {**available, "plan": "pro"}) == []


def test_override_replaces_the_agents_texts() -> None:
    override = {"agent": {"first_message": "Hello {{who}}"}}
    texts = variables.effective_texts(CONFIG, override)

    assert texts[0] == "Hello {{who}}"
    assert variables.missing_variables(texts, variables.placeholder_defaults(CONFIG)) == ["who"]


def test_placeholders_skip_reserved_names() -> None:
    assert variables.placeholder_defaults(CONFIG) == {"company": "Acme", "n": 3}
    assert variables.placeholder_defaults({}) == {}


def test_reserved_names() -> None:
    assert variables.reserved_names({"system__caller_id": "x", "ok": 1}) == ["system__caller_id"]


def test_system_variables() -> None:
    values = variables.system_variables(
        agent_id="agent_1",
        conversation_id="conv_1",
        caller_id="+1555",
        called_number="+1666",
        call_sid="CA1",
        now=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert values == {
        "system__agent_id": "agent_1",
        "system__current_agent_id": "agent_1",
        "system__conversation_id": "conv_1",
        "system__time_utc": "2025-01-02T03:04:05Z",
        "system__caller_id": "+1555",
        "system__called_number": "+1666",
        "system__call_sid": "CA1",
    }
    bare = variables.system_variables(
        agent_id="a", conversation_id="c", caller_id=None, called_number=None, call_sid=None
    )
    assert "system__call_sid" not in bare and "system__caller_id" not in bare
