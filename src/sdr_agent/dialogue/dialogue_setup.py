"""The agent's configuration for one call (``DialogueSetup``, resolved by ``factory.build_dialogue``) and what
follows from it alone: the time zone a booking defaults to, and the transcript record of a tool call the
agent's toolbox rejected. Kept apart from ``conversation`` so the call loop there reads on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from sdr_agent.dialogue.actions import new_request_id
from sdr_agent.dialogue.base import ToolActivity
from sdr_agent.dialogue.deps import DialogueDeps
from sdr_agent.dialogue.llm_turn import RejectedCall
from sdr_agent.dialogue.persona import AgentPersona
from sdr_agent.dialogue.playbook import Playbook
from sdr_agent.dialogue.sales_script import SalesScript
from sdr_agent.dialogue.tool_config import ToolBox
from sdr_agent.dialogue.tool_runner import raw_call_record, tool_result_record
from sdr_agent.dialogue.variables import VariableScope


@dataclass(frozen=True, slots=True)
class DialogueSetup:
    """The agent's configuration for one call, resolved by ``factory.build_dialogue``."""

    agent_id: str
    agent_name: str
    first_message: str
    system_prompt: str
    document_ids: tuple[str, ...]
    playbook: Playbook
    toolbox: ToolBox
    scope: VariableScope
    deps: DialogueDeps
    temperature: float | None = None
    max_tokens: int | None = None
    persona: AgentPersona = field(default_factory=AgentPersona)
    script: SalesScript = field(default_factory=SalesScript)
    voicemail_message: str = ""
    detect_voicemail: bool = False
    disclose_ai_first: bool = False
    max_duration_s: float | None = None
    languages: frozenset[str] = frozenset()  # the agent's own language(s), which its voice is set up to speak


def default_timezone(setup: DialogueSetup) -> str:
    for name in ("timezone", "system__timezone"):
        value = setup.scope.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return setup.deps.default_timezone


def rejected_activity(toolbox: ToolBox, item: RejectedCall) -> ToolActivity:
    tool = toolbox.get(item.call.name)
    request_id = item.call.id or new_request_id()
    return ToolActivity(
        raw_call_record(
            request_id,
            item.call.name,
            item.call.arguments or item.call.raw_arguments,
            tool.transcript_type if tool else "system",
        ),
        tool_result_record(request_id, item.call.name, item.error, is_error=True, called=False),
    )
