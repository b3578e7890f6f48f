"""realtime conversation signatures

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 17:00:00

One row per signed URL handed out by ``GET /v1/convai/conversation/get-signed-url``. The socket consumes the row
with a conditional UPDATE, so a signature is single-use across every replica without per-process memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_signatures",
        sa.Column("nonce", sa.String(length=64), primary_key=True),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_conversation_signatures_expires_at", "conversation_signatures", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_conversation_signatures_expires_at", table_name="conversation_signatures")
    op.drop_table("conversation_signatures")
