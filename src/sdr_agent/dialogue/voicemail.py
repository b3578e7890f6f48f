"""The message an agent leaves on an answering machine, and whether it listens for one.

ElevenLabs keeps the message on the ``voicemail_detection`` system tool (``params.voicemail_message``, with
``{{variables}}``); it is looked up there first — inline tools, ``built_in_tools`` and tools resolved from
``tool_ids`` — then in ``conversation_config.agent.sdr_profile.voicemail_message``. Without either, a short
message is built from the agent's name and company (read from its prompt and first message), so an outbound
call never pitches to a machine or hangs up on it in silence.

Used by the dialogue (a greeting-like first caller turn on an outbound call) and by carrier answering-machine
detection in the campaign dialler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sdr_agent.dialogue.persona import AgentPersona, read_persona
from sdr_agent.dialogue.variables import substitute

SYSTEM_TOOL = "voicemail_detection"


def _tool_configs(agent_config: Mapping[str, Any], tools: Sequence[Mapping[str, Any]]) -> Iterable[Any]:
    prompt = (agent_config.get("agent") or {}).get("prompt") or {}
    built_in = prompt.get("built_in_tools") or {}
    if isinstance(built_in, Mapping):
        yield built_in.get(SYSTEM_TOOL)
    yield from prompt.get("tools") or []
    for tool in tools:
        yield tool.get("tool_config", tool) if isinstance(tool, Mapping) else None


def _is_voicemail_tool(config: Mapping[str, Any], from_built_in: bool) -> bool:
    params = config.get("params") or {}
    kind = params.get("system_tool_type") if isinstance(params, Mapping) else None
    return (
        from_built_in
        or kind == SYSTEM_TOOL
        or (config.get("type") == "system" and config.get("name") == SYSTEM_TOOL)
    )


def configured_message(
    agent_config: Mapping[str, Any], tools: Sequence[Mapping[str, Any]] = ()
) -> str | None:
    """The agent's own voicemail message template, if it has one (variables not yet filled in)."""
    for index, config in enumerate(_tool_configs(agent_config, tools)):
        if not isinstance(config, Mapping) or not _is_voicemail_tool(config, from_built_in=index == 0):
            continue
        params = config.get("params") or {}
        message = params.get("voicemail_message") if isinstance(params, Mapping) else None
        if isinstance(message, str) and message.strip():
            return message.strip()
    profile = (agent_config.get("agent") or {}).get("sdr_profile") or {}
    message = profile.get("voicemail_message") if isinstance(profile, Mapping) else None
    return message.strip() if isinstance(message, str) and message.strip() else None


def default_message(persona: AgentPersona) -> str:
    """Short, no facts, nothing the caller has to write down."""
    intro = persona.introduction()
    who = (
        intro[0].lower() + intro[1:]
        if intro.startswith("This")
        else intro or "I'm calling with a quick question."
    )
    about = f" I was calling about {persona.product}." if persona.product else ""
    return f"Hi, {who}{about} Sorry I missed you. I'll try you again another time. Have a great day!"


def voicemail_message(
    agent_config: Mapping[str, Any],
    *,
    agent_name: str = "",
    values: Mapping[str, Any] | None = None,
    tools: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The agent's voicemail message with dynamic variables filled in (unknown ones become "")."""
    values = values or {}
    template = configured_message(agent_config, tools)
    if template is not None:
        return " ".join(substitute(template, values).split())
    return default_message(read_persona(agent_config, agent_name=agent_name, values=values))


def detects_voicemail(agent_config: Mapping[str, Any], *, outbound: bool, has_tool: bool) -> bool:
    """On by default for outbound calls; ``sdr_profile.voicemail_detection`` false turns it off, true turns
    it on for inbound calls too; a configured ``voicemail_detection`` tool always turns it on."""
    profile = (agent_config.get("agent") or {}).get("sdr_profile") or {}
    setting = profile.get("voicemail_detection") if isinstance(profile, Mapping) else None
    if isinstance(setting, bool):
        return setting or has_tool
    return outbound or has_tool
