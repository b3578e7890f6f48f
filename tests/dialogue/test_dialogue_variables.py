from __future__ import annotations

from dialogue_support import NOW, agent_config, make_dialogue

from sdr_agent.dialogue.variables import VariableScope, missing_variables, substitute
from sdr_agent.engines.fakes import FakeLLM


def test_substitute_fills_known_names_and_blanks_unknown_and_secrets() -> None:
    values = {"name": "Dana", "secret__key": "s3cr3t"}
    assert substitute("Hi {{ name }}!", values) == "Hi Dana!"
    assert substitute("Hi {{nobody}}.", values) == "Hi ."
    assert substitute("key={{secret__key}}", values) == "key="
    assert substitute("Bearer {{secret__key}}", values, allow_secrets=True) == "Bearer s3cr3t"


def test_missing_variables_reports_unset_names_only() -> None:
    config = agent_config(
        first_message="Hi {{customer_name}} from {{company}}",
        prompt="Call {{customer_name}}; it is {{system__time_utc}}. Plan: {{plan}}",
        placeholders={"plan": "starter"},
        tools=[
            {
                "type": "webhook",
                "name": "crm",
                "description": "d",
                "api_schema": {
                    "url": "https://crm.test/{{region}}/leads",
                    "method": "GET",
                    "request_headers": {"Authorization": "Bearer {{secret__crm_key}}"},
                },
            }
        ],
    )
    assert missing_variables(config, {}) == ["customer_name", "company", "region", "secret__crm_key"]
    provided = {"customer_name": "Dana", "company": "Globex", "region": "eu", "secret__crm_key": "k"}
    assert missing_variables(config, provided) == []
    # A value of None counts as missing; system__ names never do.
    assert "company" in missing_variables(config, {**provided, "company": None})


def test_scope_fills_system_variables_and_placeholders() -> None:
    scope = VariableScope(
        agent_config=agent_config(placeholders={"customer_name": "there"}),
        provided={},
        agent_id="agent_9",
        clock=lambda: NOW,
    )
    values = scope.at_start
    assert values["customer_name"] == "there"
    assert values["system__agent_id"] == "agent_9"
    assert values["system__time_utc"] == NOW.isoformat()
    assert values["system__call_duration_secs"] == 0


async def test_first_message_and_prompt_are_substituted_and_secrets_stay_out_of_llm_text() -> None:
    llm = FakeLLM(["Sure."])
    config = agent_config(
        first_message="Hi {{customer_name}}, {{secret__token}}this is Alex.",
        prompt="Caller: {{customer_name}} at {{company}}. Token {{secret__token}}.",
    )
    dialogue = make_dialogue(
        llm,
        config=config,
        variables={"customer_name": "Dana", "company": "Globex", "secret__token": "TOPSECRET"},
    )
    assert dialogue.opening_line() == "Hi Dana, this is Alex."
    _ = [e async for e in dialogue.respond("We use spreadsheets for everything right now.")]
    system = llm.requests[0].messages[0].content
    assert "Caller: Dana at Globex." in system
    assert "TOPSECRET" not in repr(llm.requests[0])
