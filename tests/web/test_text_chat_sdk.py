"""Text-only conversations with the official SDK's ``Conversation`` (no audio interface) on a live server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.conversational_ai.conversation import Conversation, DisconnectionDetails

from tests.conftest import API_KEY
from tests.web.conftest import Waiter, make_agent

pytestmark = [
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_url() -> Iterator[str]:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def test_text_only_chat_answers_from_the_knowledge_base_and_is_stored(
    web_server: str, webhook_url: str
) -> None:
    agent_id = make_agent(web_server)
    with httpx.Client(base_url=web_server, headers={"xi-api-key": API_KEY}, timeout=10) as http:
        hook = http.post("/v1/workspace/webhooks", json={"name": "crm", "webhook_url": webhook_url,
                                                        "auth_type": "hmac"}).json()
        http.patch("/v1/convai/settings", json={"webhooks": {
            "post_call_webhook_id": hook["webhook_id"], "events": ["transcript"]}}).raise_for_status()
    replies = Waiter()
    ended: list[DisconnectionDetails] = []
    conversation = Conversation(
        ElevenLabs(api_key=API_KEY, base_url=web_server), agent_id, requires_auth=True,
        callback_agent_response=replies.add, callback_disconnect=ended.append,
    )
    conversation.start_session()
    try:
        replies.wait_for(lambda r: len(r) >= 1)
        assert replies.items[0].startswith("Hi, this is Sam from Acme")
        conversation.send_user_message("how much does the team plan cost")
        got = replies.wait_for(lambda r: len(r) >= 2)
        assert "49" in got[1]
        conversation.send_user_message("ok thanks, goodbye")
        replies.wait_for(lambda r: len(r) >= 3)
        conversation_id = conversation.wait_for_session_end()  # the agent ends the chat: the socket closes
    finally:
        conversation.end_session()
    assert ended and ended[0].reason == "agent"
    assert conversation_id and conversation_id.startswith("conv_")
    with httpx.Client(base_url=web_server, headers={"xi-api-key": API_KEY}, timeout=10) as http:
        for _ in range(100):
            stored = http.get(f"/v1/convai/conversations/{conversation_id}").json()
            if stored["status"] == "done":
                break
            time.sleep(0.1)
    assert stored["status"] == "done"
    roles = [(t["role"], t["message"]) for t in stored["transcript"]]
    assert roles[0][0] == "agent" and roles[1] == ("user", "how much does the team plan cost")
    assert "49" in roles[2][1]
    assert stored["metadata"]["web_call"]["mode"] == "text"
    assert "phone_call" not in stored["metadata"] or stored["metadata"]["phone_call"] is None
    assert stored["analysis"] is not None
    # The post-call webhook goes out as for a phone call, and says it was a web conversation.
    deadline = time.monotonic() + 15
    while not _Hook.received:
        assert time.monotonic() < deadline, "no post-call webhook"
        time.sleep(0.1)
    event = _Hook.received[0]
    assert event["type"] == "post_call_transcription"
    assert event["data"]["conversation_id"] == conversation_id
    assert event["data"]["metadata"]["web_call"]["mode"] == "text"
