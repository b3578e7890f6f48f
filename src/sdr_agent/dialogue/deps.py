"""What a call's dialogue needs from the outside world, injected by the voice session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from sdr_agent.dialogue.meetings import MeetingRequest
from sdr_agent.engines.base import ContextPassage, Embedder, LanguageModel

Retriever = Callable[[str, Sequence[str], int], Awaitable[list[ContextPassage]]]
MeetingBooker = Callable[[MeetingRequest], Awaitable[dict[str, Any]]]
# Merges a patch into the conversation record's metadata at once (an opt-out must not wait for the hang-up).
MetadataWriter = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ClientToolReply:
    """What the client said a client tool returned (or why it could not)."""

    result: str
    is_error: bool = False


# Runs a tool of type ``client`` in the conversation's client (the realtime socket's ``client_tool_call``) and
# waits for its ``client_tool_result``: (tool name, tool call id, arguments, expects a response).
ClientToolRunner = Callable[[str, str, dict[str, Any], bool], Awaitable[ClientToolReply]]


@dataclass
class DialogueDeps:
    llm: LanguageModel
    retrieve: Retriever  # (question, document ids, k) → passages, best first
    book_meeting: MeetingBooker | None  # persists the meeting; returns a result dict
    http: httpx.AsyncClient | None  # for webhook tools (None: a client per request)
    clock: Callable[[], datetime]  # aware UTC "now"
    embedder: Embedder | None = None  # the product's sentence embedder: routing by example, answer matching
    write_metadata: MetadataWriter | None = None
    client_tools: ClientToolRunner | None = None  # only conversations with a client (the web socket) have one
    languages: frozenset[str] = frozenset({"en"})  # languages the call's voice can speak
    context_window_tokens: int = 4096
    max_output_tokens: int = 200
    retrieval_k: int = 3
    default_timezone: str = "UTC"  # for meetings when neither the caller nor a variable names one
