"""Calls across process lifetimes: recovering calls whose process died, and ending live calls on SIGTERM.

Recovery: a live call's process renews a lease on its conversation (``voice.storage_sink``). Every replica
sweeps once at start-up and then every ``resilience.recovery_interval_s`` for conversations still
``in-progress``/``processing`` whose lease lapsed, claims each with a fenced UPDATE (so only one replica
recovers it), and closes it the way a failed call closes: ``failed`` with ``metadata.termination_reason``, the
transcript saved so far, the audio checkpointed so far, analysis and the post-call webhook (outbox).

Drain: on SIGTERM no new call is answered, each live call hears a closing line (after the reply it is in,
or cutting it when that takes too long) and is hung up like an agent-ended call, bounded by
``resilience.shutdown_grace_s``; what is still live then is saved by the shutdown hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from sdr_agent.analysis.finalize import finish_conversation
from sdr_agent.logs import bind_call
from sdr_agent.services import Services
from sdr_agent.storage.repos import call_leases, recordings

log = logging.getLogger(__name__)

CRASH_REASON = "the server process handling the call stopped unexpectedly"
SHUTDOWN_LINE = "I'm sorry, I have to end our call now. We'll call you back. Goodbye."
# On SIGTERM a reply in progress may finish for this share of the grace period before it is cut.
_FINISH_REPLY_SHARE = 0.25


class CallRecovery:
    """The background sweeper of orphaned conversations (one per process)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-recovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("crash-recovery sweep failed")
            await asyncio.sleep(self._services.settings.resilience.recovery_interval_s)

    async def sweep(self) -> int:
        """Recover every orphaned conversation found now; returns how many this process recovered."""
        services = self._services
        lease_s = services.settings.resilience.call_lease_s
        live = services.voice.calls if services.voice is not None else {}
        recovered = 0
        async with services.db.session() as session:
            candidates = await call_leases.orphaned(session, datetime.now(UTC))
        for conversation_id, seen in candidates:
            if any(s.conversation_id == conversation_id for s in live.values()):
                continue  # ours and alive (a slow event loop missed a renewal)
            async with services.db.session() as session:
                claimed = await call_leases.claim(
                    session, conversation_id, seen, services.instance_id, lease_s
                )
            if claimed:
                await self.recover(conversation_id)
                recovered += 1
        return recovered

    async def recover(self, conversation_id: str) -> None:
        with bind_call(conversation_id=conversation_id):
            log.warning("closing a conversation left live by a process that died")
            audio_path = await _audio_file(self._services, conversation_id)
            await finish_conversation(
                self._services, conversation_id, ended_ok=False, termination_reason=CRASH_REASON,
                dialogue_state={}, audio_wav_path=audio_path,
            )


async def _audio_file(services: Services, conversation_id: str) -> str | None:
    """The checkpointed audio as a WAV file, for the audio webhook (the API serves it from the database)."""
    async with services.db.session() as session:
        wav = await recordings.load_wav(session, conversation_id)
    if wav is None:
        return None
    path = Path(services.settings.audio_dir) / f"{conversation_id}.wav"
    try:
        await asyncio.to_thread(_write, path, wav)
    except OSError:
        log.exception("could not write the recovered call audio")
        return None
    return str(path)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def drain_calls(services: Services, grace_s: float) -> int:
    """Stop answering, tell every live call goodbye and wait (≤ ``grace_s``) for them to end.

    Returns how many calls were still live when the time was up (the shutdown hook saves those).
    """
    services.draining = True
    runtime = services.voice
    if runtime is None or not runtime.calls:
        return 0
    log.info("draining %d live call(s) before shutdown", len(runtime.calls))
    told = [
        asyncio.create_task(
            session.end_for_shutdown(SHUTDOWN_LINE, grace_s * _FINISH_REPLY_SHARE), name="shutdown-goodbye"
        )
        for session in list(runtime.calls.values())
    ]
    deadline = time.monotonic() + grace_s
    while runtime.calls and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for task in told:
        task.cancel()
    return len(runtime.calls)


async def on_startup(services: Services) -> None:
    recovery = CallRecovery(services)
    services.recovery = recovery
    recovery.start()


async def on_shutdown(services: Services) -> None:
    if services.recovery is not None:
        await services.recovery.stop()
        services.recovery = None
