"""The official ``elevenlabs`` SDK against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from elevenlabs import ElevenLabs
from elevenlabs.conversational_ai.phone_numbers.types import PhoneNumbersCreateRequestBody_Twilio
from elevenlabs.core.api_error import ApiError

from sdr_agent.settings import Settings
from sdr_agent.storage.db import Database
from sdr_agent.storage.repos import conversations as conversations_repo
from sdr_agent.storage.repos.conversations import TurnRecord

pytestmark = [
    pytest.mark.postgres,
    # The SDK's own models still touch pydantic v1 attributes; not ours to fix.
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]


def _client(base_url: str, key: str = "test-key") -> ElevenLabs:
    return ElevenLabs(api_key=key, base_url=base_url, timeout=10)


def test_agent_lifecycle_through_the_sdk(live_server: str) -> None:
    agents = _client(live_server).conversational_ai.agents
    created = [
        agents.create(
            name=f"SDR {n}",
            tags=["sales"],
            conversation_config={
                "agent": {"first_message": f"Hi, I'm {n}.", "prompt": {"prompt": "Sell."}},
                "tts": {"voice_id": f"voice-{n}"},
            },
        ).agent_id
        for n in ("Alex", "Blake", "Casey")
    ]
    got = agents.get(created[0])
    assert got.agent_id == created[0] and got.name == "SDR Alex" and got.tags == ["sales"]
    assert got.conversation_config.agent is not None
    assert got.conversation_config.agent.first_message == "Hi, I'm Alex."
    assert got.metadata.created_at_unix_secs > 0

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = agents.list(page_size=1, cursor=cursor)
        assert len(page.agents) == 1
        seen.append(page.agents[0].agent_id)
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(created))
    assert [a.name for a in agents.list(search="blake").agents] == ["SDR Blake"]

    updated = agents.update(
        created[0], name="SDR Alexandra", conversation_config={"agent": {"first_message": "Hello again."}}
    )
    assert updated.name == "SDR Alexandra"
    again = agents.get(created[0])
    assert again.name == "SDR Alexandra"
    assert again.conversation_config.agent is not None
    assert again.conversation_config.agent.first_message == "Hello again."
    assert again.conversation_config.agent.prompt is not None
    assert again.conversation_config.agent.prompt.prompt == "Sell."

    agents.delete(created[0])
    with pytest.raises(ApiError) as missing:
        agents.get(created[0])
    assert missing.value.status_code == 404


def test_wrong_key_is_401(live_server: str) -> None:
    for key in ("wrong-key", None):
        with pytest.raises(ApiError) as denied:
            _client(live_server, key=key).conversational_ai.agents.list()  # type: ignore[arg-type]
        assert denied.value.status_code == 401


def test_phone_numbers_and_conversations_through_the_sdk(
    live_server: str, settings: Settings, run_sync: Callable[[Any], Any]
) -> None:
    client = _client(live_server)
    agent_id = client.conversational_ai.agents.create(name="Alex", conversation_config={}).agent_id
    number_id = client.conversational_ai.phone_numbers.create(
        request=PhoneNumbersCreateRequestBody_Twilio(
            phone_number="+15550001111", label="Main", sid="AC" + "1" * 32, token="tok-secret"
        )
    ).phone_number_id
    listed = client.conversational_ai.phone_numbers.list()
    assert [(n.provider, n.phone_number_id) for n in listed] == [("twilio", number_id)]
    updated = client.conversational_ai.phone_numbers.update(number_id, agent_id=agent_id)
    assert updated.assigned_agent is not None and updated.assigned_agent.agent_name == "Alex"
    assert client.conversational_ai.phone_numbers.get(number_id).label == "Main"

    async def write_conversation() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as s:
                conv = await conversations_repo.create_conversation(
                    s, agent_id=agent_id, direction="outbound"
                )
                await conversations_repo.append_turn(
                    s, conv.conversation_id, TurnRecord("agent", "Hello!", 0.3)
                )
                return conv.conversation_id
        finally:
            await db.dispose()

    conversation_id = run_sync(write_conversation())
    conv = client.conversational_ai.conversations.get(conversation_id)
    assert conv.status == "initiated" and [t.message for t in conv.transcript] == ["Hello!"]
    page = client.conversational_ai.conversations.list(agent_id=agent_id, page_size=1)
    assert [c.conversation_id for c in page.conversations] == [conversation_id]
    client.conversational_ai.conversations.delete(conversation_id)
    client.conversational_ai.phone_numbers.delete(number_id)
    assert client.conversational_ai.phone_numbers.list() == []
