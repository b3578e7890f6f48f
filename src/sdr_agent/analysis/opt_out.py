"""Did the caller ask not to be called again? For the do-not-call list, when the conversation is stored.

The dialogue records ``metadata["opt_out"] = {"phrase", "time_in_call_secs"}`` the moment it hears it. Where
that record is missing (the call's process died before writing it, or a call path that does not pass the
metadata writer), the caller's stored turns are read with the dialogue's own opt-out patterns instead.
"""

from __future__ import annotations

from typing import Any

from sdr_agent.dialogue.compliance import detect_opt_out
from sdr_agent.storage.repos.conversations import Conversation


def opt_out_record(conversation: Conversation) -> dict[str, Any]:
    """``{"opt_out": {...}}`` when the caller opted out, else ``{}`` (the shape ``add_opt_out`` reads)."""
    recorded = conversation.metadata.get("opt_out")
    if isinstance(recorded, dict):
        return {"opt_out": recorded}
    for turn in conversation.turns:
        if turn.role != "user" or not turn.message:
            continue
        phrase = detect_opt_out(turn.message)
        if phrase:
            return {"opt_out": {"phrase": phrase, "time_in_call_secs": turn.time_in_call_secs}}
    return {}
