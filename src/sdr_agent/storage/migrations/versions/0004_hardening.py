"""hardening: encrypted secrets, shared call tokens, rate-limit counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 17:00:00

Placeholder reserved for issue 17 so that parallel work keeps one linear chain; it is filled in by that work.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ---- 17A (rate-limit counters): begin ----
    # Fixed-window counters shared by every replica: one row per (bucket, window), incremented atomically.
    op.create_table(
        'rate_limit_counters',
        sa.Column('bucket', sa.String(length=128), nullable=False),
        sa.Column('window_start', sa.BigInteger(), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('bucket', 'window_start'),
    )
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_counters_window_start'), ['window_start'], unique=False)
    # ---- 17A: end ----

    # ---- 17B (stream tokens, call leases, incremental call audio, sealed secrets): begin ----
    op.create_table(
        'call_stream_tokens',
        sa.Column('call_sid', sa.String(length=64), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('call_sid'),
    )
    with op.batch_alter_table('call_stream_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_stream_tokens_created_at'), ['created_at'], unique=False)
    op.create_table(
        'call_audio_chunks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('conversation_id', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('start_sample', sa.Integer(), nullable=False),
        sa.Column('pcm', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.conversation_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('conversation_id', 'seq'),
    )
    with op.batch_alter_table('call_audio_chunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_audio_chunks_conversation_id'), ['conversation_id'], unique=False)
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_conversations_lease_expires_at'), ['lease_expires_at'], unique=False)
    # Sealed secrets are longer than the plaintext; existing rows are encrypted at start-up with the key
    # (storage.secrets_boot), which a migration does not have.
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.alter_column('twilio_token', type_=sa.Text(), existing_type=sa.String(length=255))
    with op.batch_alter_table('webhook_configs', schema=None) as batch_op:
        batch_op.alter_column('secret', type_=sa.Text(), existing_type=sa.String(length=255))
    # A workspace tool's config holds its credentials (headers): stored sealed, so as text, not JSON.
    with op.batch_alter_table('workspace_tools', schema=None) as batch_op:
        batch_op.alter_column(
            'tool_config', type_=sa.Text(), existing_type=sa.JSON(), postgresql_using='tool_config::text'
        )
    # ---- 17B: end ----


def downgrade() -> None:
    # ---- 17B: begin ----
    # Secrets stay sealed: versions before 0004 cannot read them (and a sealed tool config is not JSON, so
    # PostgreSQL refuses the cast). Downgrading below 0004 is for empty or test databases only.
    with op.batch_alter_table('workspace_tools', schema=None) as batch_op:
        batch_op.alter_column(
            'tool_config', type_=sa.JSON(), existing_type=sa.Text(), postgresql_using='tool_config::json'
        )
    with op.batch_alter_table('webhook_configs', schema=None) as batch_op:
        batch_op.alter_column('secret', type_=sa.String(length=255), existing_type=sa.Text())
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.alter_column('twilio_token', type_=sa.String(length=255), existing_type=sa.Text())
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversations_lease_expires_at'))
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('owner_id')
    op.drop_table('call_audio_chunks')
    op.drop_table('call_stream_tokens')
    # ---- 17B: end ----

    # ---- 17A (rate-limit counters): begin ----
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_counters_window_start'))
    op.drop_table('rate_limit_counters')
    # ---- 17A: end ----
