"""``build_dialogue``: one ``AgentDialogue`` per call from the agent's ElevenLabs-shaped configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sdr_agent.dialogue.base import Dialogue
from sdr_agent.dialogue.conversation import AgentDialogue
from sdr_agent.dialogue.deps import DialogueDeps, MeetingBooker, Retriever
from sdr_agent.dialogue.dialogue_setup import DialogueSetup
from sdr_agent.dialogue.persona import read_persona
from sdr_agent.dialogue.playbook import load_playbook
from sdr_agent.dialogue.sales_script import load_script
from sdr_agent.dialogue.tool_config import load_toolbox
from sdr_agent.dialogue.variables import VariableScope, substitute
from sdr_agent.dialogue.voicemail import detects_voicemail, voicemail_message

__all__ = ["DialogueDeps", "MeetingBooker", "Retriever", "build_dialogue", "knowledge_document_ids"]

# mypy checks here that AgentDialogue satisfies the Dialogue protocol the voice session relies on.
_IMPLEMENTS_DIALOGUE: Callable[[DialogueSetup], Dialogue] = AgentDialogue


def knowledge_document_ids(agent_config: Mapping[str, Any]) -> tuple[str, ...]:
    prompt = (agent_config.get("agent") or {}).get("prompt") or {}
    ids = [
        str(doc["id"])
        for doc in prompt.get("knowledge_base") or []
        if isinstance(doc, Mapping) and doc.get("id")
    ]
    return tuple(dict.fromkeys(ids))


def _agent_languages(config: Mapping[str, Any]) -> frozenset[str]:
    """``agent.language`` ("es") and the keys of ``language_presets`` (ElevenLabs): the agent speaks these."""
    agent = config.get("agent") or {}
    codes = [agent.get("language") if isinstance(agent, Mapping) else None]
    presets = config.get("language_presets")
    if isinstance(presets, Mapping):
        codes += list(presets)
    return frozenset(str(c).split("-")[0].lower() for c in codes if isinstance(c, str) and c.strip())


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def build_dialogue(
    *,
    agent_config: Mapping[str, Any],
    platform_settings: Mapping[str, Any] | None,
    agent_id: str,
    agent_name: str,
    dynamic_variables: Mapping[str, Any],
    deps: DialogueDeps,
    tools: Sequence[Mapping[str, Any]] | None = None,
    outbound: bool = False,
) -> AgentDialogue:
    """``agent_config`` is the agent's ``conversation_config`` (overrides already merged); ``tools`` are
    tool configs resolved from ``prompt.tool_ids``; ``outbound`` turns voicemail detection on by default."""
    config = agent_config if isinstance(agent_config, Mapping) else {}
    agent = config.get("agent") or {}
    prompt = agent.get("prompt") or {}
    scope = VariableScope(
        agent_config=config, provided=dynamic_variables, agent_id=agent_id, clock=deps.clock
    )
    values = scope.at_start
    temperature = _number(prompt.get("temperature"))
    max_tokens = _number(prompt.get("max_tokens"))
    first_message = substitute(str(agent.get("first_message") or ""), values)
    system_prompt = substitute(str(prompt.get("prompt") or ""), values)
    toolbox = load_toolbox(
        config,
        tools or (),
        can_book_meetings=deps.book_meeting is not None,
        can_run_client_tools=deps.client_tools is not None,
    )
    profile_value = agent.get("sdr_profile")
    profile: Mapping[str, Any] = profile_value if isinstance(profile_value, Mapping) else {}
    conversation_value = config.get("conversation")
    conversation: Mapping[str, Any] = conversation_value if isinstance(conversation_value, Mapping) else {}
    max_duration = _number(conversation.get("max_duration_seconds"))
    setup = DialogueSetup(
        agent_id=agent_id,
        agent_name=agent_name,
        first_message=first_message,
        system_prompt=system_prompt,
        document_ids=knowledge_document_ids(config),
        playbook=load_playbook(config),
        toolbox=toolbox,
        scope=scope,
        deps=deps,
        temperature=temperature,
        max_tokens=int(max_tokens) if max_tokens and max_tokens > 0 else None,
        persona=read_persona(config, agent_name=agent_name, values=values),
        script=load_script(config, system_prompt, first_message),
        voicemail_message=voicemail_message(config, agent_name=agent_name, values=values, tools=tools or ()),
        detect_voicemail=detects_voicemail(
            config, outbound=outbound, has_tool=toolbox.by_system_type("voicemail_detection") is not None
        ),
        disclose_ai_first=bool(profile.get("disclose_ai_in_first_message")),
        # A little before the platform's hard limit, so the caller hears a goodbye rather than a cut-off.
        max_duration_s=max(30.0, max_duration - 15.0) if max_duration and max_duration > 0 else None,
        languages=_agent_languages(config),
    )
    return AgentDialogue(setup)
