"""An OpenAI-compatible stand-in on 127.0.0.1: ``POST /v1/chat/completions`` over SSE, ``GET /v1/models``.

Replies come from a ``ReplyScript``: text in content deltas, each tool call as a first fragment (id, type,
name, empty arguments) and then its JSON arguments split into ``argument_piece_chars``-character string
fragments, a final chunk with ``finish_reason``, then ``data: [DONE]``. ``faults`` inject a slow first byte,
an HTTP error status, a mid-stream disconnect, a malformed ``data:`` line or an in-stream error object.
When ``api_key`` is set, requests must carry ``Authorization: Bearer <api_key>``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sdr_agent.sim.chat_standin import ChatStandIn, StreamFraming
from sdr_agent.sim.llm_script import ScriptedReply, text_pieces

STANDIN_KEY = "standin-openai-key"


_STREAM_ERROR = {"error": {"message": "stand-in fault: upstream failure", "type": "server_error"}}
OPENAI_FRAMING = StreamFraming(
    prefix=b"data: ",
    suffix=b"\n\n",
    malformed=b'data: {"id": "broken", "choices": [\n\n',
    error=f"data: {json.dumps(_STREAM_ERROR)}\n\n".encode(),
    end=b"data: [DONE]\n\n",
)


class OpenAIStandIn(ChatStandIn):
    def __init__(
        self,
        replies: Iterable[ScriptedReply | str] = (),
        *,
        api_key: str | None = STANDIN_KEY,
        models: Iterable[str] = ("stand-in-model",),
        argument_piece_chars: int = 7,
        chunk_interval_s: float = 0.0,
    ) -> None:
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ]
        super().__init__(
            replies, models=models, chunk_interval_s=chunk_interval_s, routes=routes, framing=OPENAI_FRAMING
        )
        self.api_key = api_key
        self.argument_piece_chars = max(1, argument_piece_chars)

    def _unauthorized(self, request: Request) -> Response | None:
        if self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return _error(401, "Incorrect API key provided.", "invalid_request_error")

    async def _models(self, request: Request) -> Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        fault = self.faults.take()  # a health probe meets the same outage as a chat request
        if fault.http_status is not None:
            return _error(fault.http_status, "stand-in fault", "server_error")
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "stand-in"} for m in self.models
                ],
            }
        )

    async def _chat(self, request: Request) -> Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid JSON body", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "messages is required", "invalid_request_error")
        self.requests.append(body)
        fault = self.faults.take()
        if fault.http_status is not None:
            return _error(fault.http_status, "stand-in fault: server error", "server_error")
        reply = self.script.next(body["messages"])
        model = str(body.get("model") or self.models[0])
        events = self._stream(self._chunks(model, reply), fault)
        return StreamingResponse(events, media_type="text/event-stream")

    def _chunks(self, model: str, reply: ScriptedReply) -> list[dict[str, Any]]:
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": piece}) for piece in text_pieces(reply.text)]
        for index, (name, args) in enumerate(reply.tool_calls):
            first = {
                "index": index,
                "id": f"call_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            chunks.append(chunk({"tool_calls": [first]}))
            raw = json.dumps(args)
            step = self.argument_piece_chars
            for start in range(0, len(raw), step):
                piece = {"index": index, "function": {"arguments": raw[start : start + step]}}
                chunks.append(chunk({"tool_calls": [piece]}))
        chunks.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
        return chunks


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status_code=status)
