"""CallSession's work outside the audio loop: writing transcript turns, leaving the line, storing the call.

Split out of ``voice.session`` so that the session module keeps the per-call state machine (frames, turns,
timers) and this one keeps what a call writes to the world: turns saved in order by one writer task (a slow
database never holds up a frame), the transfer or hang-up and stream close when the agent ends the call, and
at the end the call audio and the ``CallOutcome`` handed to the sink. Failures here are logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sdr_agent.observability.metrics import observe_call_end
from sdr_agent.storage.repos.conversations import TurnRecord
from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.config import SessionDeps
from sdr_agent.voice.ports import CallOutcome
from sdr_agent.voice.recorder import CallRecorder
from sdr_agent.voice.stats import CallStats
from sdr_agent.voice.transport import MediaTransport

# Logged under the session's name, as when this code lived in voice.session.
log = logging.getLogger("sdr_agent.voice.session")


class TurnWriter:
    """Transcript turns queued by the session and saved in order by one task (``run``) until ``close``."""

    def __init__(self, deps: SessionDeps) -> None:
        self._deps = deps
        self._writes: asyncio.Queue[TurnRecord | None] = asyncio.Queue()

    def save(self, record: TurnRecord) -> None:
        self._writes.put_nowait(record)

    def close(self) -> None:
        self._writes.put_nowait(None)

    async def run(self) -> None:
        while (record := await self._writes.get()) is not None:
            try:
                await self._deps.sink.save_turn(record)
            except Exception:
                log.exception("saving a transcript turn failed")


async def leave_call(deps: SessionDeps, transport: MediaTransport, turn: AgentTurn) -> None:
    """The agent ended the call: transfer or hang up through call control, then close the media stream."""
    control = deps.control
    try:
        if turn.transfer is not None and control is not None:
            await control.transfer(turn.transfer.phone_number)
        elif control is not None:
            await control.hangup()
    except Exception:
        log.exception("call control failed while leaving the call")
    try:
        await transport.close(1000, "call ended by agent")
    except Exception:
        # Usually the caller hung up first: worth a line, not a traceback.
        log.warning("closing the media stream failed (the other side may be gone already)")


def write_call_audio(recorder: CallRecorder, audio_dir: Path | None, conversation_id: str) -> str | None:
    """The call's two-channel audio as ``<audio_dir>/<conversation_id>.wav``; None without audio or a dir."""
    audio_path = None
    if recorder.has_audio and audio_dir is not None:
        try:
            wav = audio_dir / f"{conversation_id}.wav"
            audio_path = str(recorder.write_wav(wav))
        except OSError:
            log.exception("could not write call audio")
    return audio_path


async def hand_over(
    deps: SessionDeps,
    stats: CallStats,
    *,
    call_sid: str,
    ended_ok: bool,
    reason: str,
    duration_secs: float,
    audio_path: str | None,
) -> None:
    """Record the call's metrics and hand its outcome to the sink (which starts the post-call analysis)."""
    observe_call_end(stats.as_dict(), call_sid=call_sid)
    outcome = CallOutcome(
        ended_ok=ended_ok,
        termination_reason=reason,
        duration_secs=duration_secs,
        dialogue_state=_safe_snapshot(deps.dialogue),
        audio_path=audio_path,
        stats=stats.as_dict(),
    )
    try:
        await deps.sink.finish(outcome)
    except Exception:
        log.exception("finishing the conversation failed")


def _safe_snapshot(dialogue: Any) -> dict[str, Any]:
    try:
        snapshot: dict[str, Any] = dialogue.state_snapshot()
        return snapshot
    except Exception:
        log.exception("dialogue state snapshot failed")
        return {}
