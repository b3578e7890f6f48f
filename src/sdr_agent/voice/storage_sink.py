"""CallRecordSink over the database: turns saved as they happen, then the post-call hand-over.

While the call runs the sink also checkpoints the call audio into the database and renews the conversation's
lease every ``resilience.audio_checkpoint_s``, so a process killed mid-call leaves its transcript and audio so
far, and another process (a restart or a replica) sees the lapsed lease and closes the call
(``voice.lifecycle.CallRecovery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sdr_agent.services import Services
from sdr_agent.storage.repos import call_leases, recordings
from sdr_agent.storage.repos import conversations as repo
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.ports import CallOutcome
from sdr_agent.voice.recorder import CallRecorder

log = logging.getLogger(__name__)


class StorageSink:
    def __init__(self, services: Services, conversation_id: str) -> None:
        self._services = services
        self._conversation_id = conversation_id
        self._lease_s = services.settings.resilience.call_lease_s
        self._recorder: CallRecorder | None = None
        self._clock: Callable[[], float] | None = None
        self._saved_upto = 0
        self._seq = 0
        self._checkpoints: asyncio.Task[None] | None = None

    def record_audio(self, recorder: CallRecorder, clock: Callable[[], float]) -> None:
        """Checkpoint this recorder's audio (and renew the lease) until ``finish``."""
        self._recorder, self._clock = recorder, clock
        self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="audio-checkpoints")

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self._services.settings.resilience.audio_checkpoint_s)
            try:
                await self._checkpoint(final=False)
            except Exception:
                log.exception("call audio checkpoint failed")

    async def _checkpoint(self, *, final: bool) -> None:
        recorder, clock = self._recorder, self._clock
        pcm, start = b"", self._saved_upto
        if recorder is not None and clock is not None:
            upto = recorder.end_sample if final else recorder.now_sample(clock())
            pcm = recorder.render(start, upto)
            self._saved_upto = max(start, upto)
        async with self._services.db.session() as session:
            if pcm:
                await recordings.append_chunk(session, self._conversation_id, self._seq, start, pcm)
                self._seq += 1
            owned = await call_leases.renew_lease(
                session, self._conversation_id, self._services.instance_id, self._lease_s
            )
        if not owned:
            log.warning("another process took this conversation over (it thought this one had died)")

    async def mark_started(self, *, stream_sid: str, call_sid: str) -> None:
        async with self._services.db.session() as session:
            await call_leases.take_lease(
                session, self._conversation_id, self._services.instance_id, self._lease_s
            )
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
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
        try:
            await self._checkpoint(final=True)
        except Exception:
            log.exception("saving the last of the call audio failed")
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
