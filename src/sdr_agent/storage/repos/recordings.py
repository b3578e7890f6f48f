"""Call audio in the database: stretches of stereo PCM appended while the call runs, a WAV on demand.

Stored in the database (not on a local disk) so that any replica serves ``GET .../audio`` and a process that
dies mid-call leaves its audio so far behind.
"""

from __future__ import annotations

import io
import wave

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import CallAudioChunkRow

RATE = 8000
BYTES_PER_FRAME = 4  # stereo, 16-bit


async def append_chunk(
    session: AsyncSession, conversation_id: str, seq: int, start_sample: int, pcm: bytes
) -> None:
    session.add(
        CallAudioChunkRow(conversation_id=conversation_id, seq=seq, start_sample=start_sample, pcm=pcm)
    )


async def next_seq(session: AsyncSession, conversation_id: str) -> int:
    found = await session.scalar(
        select(func.max(CallAudioChunkRow.seq)).where(CallAudioChunkRow.conversation_id == conversation_id)
    )
    return 0 if found is None else int(found) + 1


async def has_audio(session: AsyncSession, conversation_id: str) -> bool:
    found = await session.scalar(
        select(CallAudioChunkRow.id).where(CallAudioChunkRow.conversation_id == conversation_id).limit(1)
    )
    return found is not None


async def load_wav(session: AsyncSession, conversation_id: str, max_bytes: int | None = None) -> bytes | None:
    """The stored audio as a stereo 8 kHz WAV (left caller, right agent), or None when nothing was stored."""
    rows = (await session.execute(
        select(CallAudioChunkRow.start_sample, CallAudioChunkRow.pcm)
        .where(CallAudioChunkRow.conversation_id == conversation_id)
        .order_by(CallAudioChunkRow.seq)
    )).all()
    if not rows:
        return None
    end = max(start * BYTES_PER_FRAME + len(pcm) for start, pcm in rows)
    if max_bytes is not None and end > max_bytes:
        return None
    frames = bytearray(end)
    for start, pcm in rows:
        offset = start * BYTES_PER_FRAME
        frames[offset:offset + len(pcm)] = pcm
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(frames))
    return out.getvalue()


async def delete_audio(session: AsyncSession, conversation_id: str) -> None:
    chunks = CallAudioChunkRow
    await session.execute(delete(chunks).where(chunks.conversation_id == conversation_id))
