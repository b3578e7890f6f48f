"""Client tools over the realtime socket: ``client_tool_call`` out, the matching ``client_tool_result`` back.

The dialogue awaits ``run``; the socket's reader hands every ``client_tool_result`` to ``resolve``. A client
that does not answer within the timeout, or leaves, gives the tool an error result: the agent is never stuck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sdr_agent.dialogue.deps import ClientToolReply
from sdr_agent.web import protocol


class ClientToolBridge:
    def __init__(self, send: Callable[[str], Awaitable[None]], timeout_s: float) -> None:
        self._send = send
        self._timeout_s = timeout_s
        self._pending: dict[str, asyncio.Future[ClientToolReply]] = {}
        self._closed = False

    async def run(
        self, tool_name: str, tool_call_id: str, parameters: dict[str, Any], expects_response: bool
    ) -> ClientToolReply:
        if self._closed:
            return ClientToolReply("the client has left the conversation", True)
        if not expects_response:
            await self._send(protocol.client_tool_call(tool_name, tool_call_id, parameters))
            return ClientToolReply("sent to the client")
        future: asyncio.Future[ClientToolReply] = asyncio.get_running_loop().create_future()
        # Registered before sending: a quick client may answer before send returns.
        self._pending[tool_call_id] = future
        try:
            await self._send(protocol.client_tool_call(tool_name, tool_call_id, parameters))
            return await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            return ClientToolReply(f"the client did not answer within {self._timeout_s:g} s", True)
        finally:
            self._pending.pop(tool_call_id, None)

    def resolve(self, result: protocol.ClientToolResult) -> bool:
        """True when the result answered a pending call (a late or unknown one is ignored)."""
        future = self._pending.get(result.tool_call_id)
        if future is None or future.done():
            return False
        future.set_result(ClientToolReply(result.result, result.is_error))
        return True

    def close(self) -> None:
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_result(ClientToolReply("the client has left the conversation", True))
