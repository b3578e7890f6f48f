"""CallRecordSink over the database: turns saved as they happen, then the post-call hand-over."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sdr_agent.services import Services
from sdr_agent.storage.repos import conversations as repo
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.ports import CallOutcome

log = logging.getLogger(__name__)


class StorageSink:
    def __init__(self, services: Services, conversation_id: str) -> None:
        self._services = services
        self._conversation_id = conversation_id

    async def mark_started(self, *, stream_sid: str, call_sid: str) -> None:
        async with self._services.db.session() as session:
            await repo.update_conversation(
                session, self._conversation_id, status="in-progress", stream_sid=stream_sid,
                started_at=datetime.now(UTC),
            )
            await repo.merge_conversation_metadata(
                session, self._conversation_id,
                {"phone_call": {"stream_sid": stream_sid, "call_sid": call_sid}},
            )

    async def save_turn(self, turn: TurnRecord) -> None:
        async with self._services.db.session() as session:
            await repo.append_turn(session, self._conversation_id, turn)

    async def merge_metadata(self, patch: dict[str, Any]) -> None:
        async with self._services.db.session() as session:
            await repo.merge_conversation_metadata(session, self._conversation_id, patch)

    async def finish(self, outcome: CallOutcome) -> None:
        async with self._services.db.session() as session:
            await repo.update_conversation(
                session, self._conversation_id, ended_at=datetime.now(UTC),
                duration_secs=outcome.duration_secs, audio_path=outcome.audio_path,
            )
            await repo.merge_conversation_metadata(
                session, self._conversation_id,
                {"call_duration_secs": round(outcome.duration_secs), "call_stats": _summary(outcome.stats)},
            )
        from sdr_agent.analysis.finalize import finish_conversation

        await finish_conversation(
            self._services, self._conversation_id, ended_ok=outcome.ended_ok,
            termination_reason=outcome.termination_reason, dialogue_state=outcome.dialogue_state,
            audio_wav_path=outcome.audio_path,
        )


def _summary(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if not isinstance(v, list)} | {
        "latencies_ms": stats.get("latencies_ms", []),
        "bargein_detect_ms": stats.get("bargein_detect_ms", []),
    }
