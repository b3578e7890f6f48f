"""A caller who asked not to be called again goes on the do-not-call list (source ``call``).

The dialogue writes ``metadata["opt_out"] = {"phrase", "time_in_call_secs"}`` the moment it hears the
request (and ends the call); ``analysis.finalize`` adds the number when the conversation is stored, and the
dialer does it again when it closes the attempt, so a crash between the two cannot lose it.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.storage.models import ConversationRow
from sdr_agent.storage.repos import suppression as suppression_repo

log = logging.getLogger(__name__)


async def record_opt_out(session: AsyncSession, conversation: ConversationRow | None) -> None:
    if conversation is None:
        return
    metadata = conversation.meta or {}
    number = suppression_repo.external_number(
        metadata, conversation.direction, conversation.from_number, conversation.to_number
    )
    if await suppression_repo.add_opt_out(session, number, metadata):
        log.info("%s added to the do-not-call list at the caller's request", number)
