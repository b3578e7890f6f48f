"""The voicemail message an agent leaves (also used by carrier answering-machine detection)."""

from __future__ import annotations

from sdr_agent.dialogue.persona import read_persona
from sdr_agent.dialogue.voicemail import detects_voicemail, voicemail_message

AGENT = {
    "agent": {
        "first_message": "Hi {{customer_name}}, this is Maya from Northwind Analytics. I'm calling about our "
        "Ledgerly bookkeeping tool. Do you have a minute?",
        "prompt": {"prompt": "You are Maya, an SDR at Northwind Analytics. Your goal is to book a demo."},
    }
}


def test_default_message_names_agent_company_and_product() -> None:
    message = voicemail_message(AGENT, values={"customer_name": "Bob"})
    assert message.startswith("Hi, this is Maya from Northwind Analytics.")
    assert "Ledgerly" in message
    assert "{{" not in message


def test_tool_message_wins_and_variables_are_filled() -> None:
    config = {
        "agent": {
            "first_message": "Hello!",
            "prompt": {
                "prompt": "You are a rep for Acme Cloud.",
                "built_in_tools": {
                    "voicemail_detection": {
                        "params": {"voicemail_message": "Hi {{name}}, Sam here. {{unknown}}Bye."}
                    }
                },
            },
        }
    }
    assert voicemail_message(config, values={"name": "Jo"}) == "Hi Jo, Sam here. Bye."


def test_resolved_workspace_tool_and_profile_setting() -> None:
    tool = {
        "tool_config": {
            "type": "system",
            "name": "vm",
            "params": {
                "system_tool_type": "voicemail_detection",
                "voicemail_message": "Workspace message for {{who}}.",
            },
        }
    }
    assert voicemail_message(AGENT, values={"who": "Ann"}, tools=[tool]) == "Workspace message for Ann."
    profile = {"agent": {**AGENT["agent"], "sdr_profile": {"voicemail_message": "Profile message."}}}
    assert voicemail_message(profile) == "Profile message."


def test_detection_defaults_on_for_outbound_only() -> None:
    assert detects_voicemail(AGENT, outbound=True, has_tool=False)
    assert not detects_voicemail(AGENT, outbound=False, has_tool=False)
    off = {"agent": {"sdr_profile": {"voicemail_detection": False}}}
    assert not detects_voicemail(off, outbound=True, has_tool=False)
    assert detects_voicemail(off, outbound=True, has_tool=True)


def test_persona_from_first_message_with_other_wording() -> None:
    config = {
        "agent": {
            "first_message": "Hi there, it's Priya with Brightpath Dental Supply.",
            "prompt": {"prompt": "You sell SmileKit, a whitening kit subscription for dental practices."},
        }
    }
    persona = read_persona(config)
    assert (persona.agent_name, persona.company, persona.product) == (
        "Priya",
        "Brightpath Dental Supply",
        "SmileKit",
    )
    assert read_persona({"agent": {}}, agent_name="Northwind SDR bot").agent_name == ""
    assert read_persona({"agent": {}}, agent_name="Leo").agent_name == "Leo"
