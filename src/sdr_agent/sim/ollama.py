"""An Ollama stand-in on 127.0.0.1: ``POST /api/chat`` (streaming NDJSON, native tool calls), ``/api/tags``.

Replies come from a ``ReplyScript`` (``sim.llm_script``), text streamed piece by piece, each tool call whole
in one chunk with an arguments object, then the ``done`` line. ``faults`` (``sim.cloud_faults``) inject a
slow first byte, an HTTP error status, a mid-stream disconnect, a malformed line or an in-stream
``{"error": …}`` line (HTTP 200), counted in streamed chunks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sdr_agent.sim.chat_standin import ChatStandIn, StreamFraming
from sdr_agent.sim.llm_script import ScriptedReply, text_pieces

OLLAMA_FRAMING = StreamFraming(
    prefix=b"",
    suffix=b"\n",
    malformed=b'{"model": "broken", "message": {\n',
    error=b'{"error": "stand-in fault: model runner crashed"}\n',
)


class OllamaStandIn(ChatStandIn):
    def __init__(
        self,
        replies: Iterable[ScriptedReply | str] = (),
        *,
        models: Iterable[str] = ("llama3.2:latest",),
        chunk_interval_s: float = 0.0,
    ) -> None:
        routes = [
            Route("/api/chat", self._chat, methods=["POST"]),
            Route("/api/tags", self._tags, methods=["GET"]),
        ]
        super().__init__(
            replies, models=models, chunk_interval_s=chunk_interval_s, routes=routes, framing=OLLAMA_FRAMING
        )
        self.tag_requests = 0

    def _known(self, model: str) -> bool:
        full = model if ":" in model else f"{model}:latest"
        return full in self.models or model in self.models

    async def _tags(self, request: Request) -> Response:
        self.tag_requests += 1
        fault = self.faults.take()  # a health probe meets the same outage as a chat request
        if fault.http_status is not None:
            return JSONResponse({"error": "stand-in fault"}, status_code=fault.http_status)
        return JSONResponse(
            {
                "models": [
                    {
                        "name": m,
                        "model": m,
                        "modified_at": "2025-01-01T00:00:00Z",
                        "size": 1,
                        "digest": "0",
                        "details": {"format": "gguf", "family": "llama"},
                    }
                    for m in self.models
                ]
            }
        )

    async def _chat(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "invalid JSON body"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return JSONResponse({"error": "messages are required"}, status_code=400)
        self.requests.append(body)
        fault = self.faults.take()
        if fault.http_status is not None:
            return JSONResponse({"error": "stand-in fault: server error"}, status_code=fault.http_status)
        model = str(body.get("model", ""))
        if not self._known(model):
            missing = f'model "{model}" not found, try pulling it first'
            return JSONResponse({"error": missing}, status_code=404)
        reply = self.script.next(body["messages"])
        chunks = self._chunks(model, reply)
        if body.get("stream") is False:
            return JSONResponse(_whole(model, reply))
        return StreamingResponse(self._stream(chunks, fault), media_type="application/x-ndjson")

    def _chunks(self, model: str, reply: ScriptedReply) -> list[dict[str, Any]]:
        chunks = [_chunk(model, {"role": "assistant", "content": piece}) for piece in text_pieces(reply.text)]
        if reply.tool_calls:
            calls = [{"function": {"name": name, "arguments": args}} for name, args in reply.tool_calls]
            chunks.append(_chunk(model, {"role": "assistant", "content": "", "tool_calls": calls}))
        done = _chunk(model, {"role": "assistant", "content": ""})
        done.update(
            done=True,
            done_reason="stop",
            total_duration=1_000_000,
            load_duration=1000,
            prompt_eval_count=10,
            prompt_eval_duration=1000,
            eval_count=len(chunks),
            eval_duration=1000,
        )
        chunks.append(done)
        return chunks


def _chunk(model: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "created_at": datetime.now(UTC).isoformat(), "message": message, "done": False}


def _whole(model: str, reply: ScriptedReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [{"function": {"name": n, "arguments": a}} for n, a in reply.tool_calls]
    return {**_chunk(model, message), "done": True, "done_reason": "stop"}
