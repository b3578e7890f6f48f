"""campaigns: batch calls, recipients, attempts, suppression list

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'batch_calls',
        sa.Column('batch_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('agent_id', sa.String(length=64), nullable=False),
        sa.Column('agent_name', sa.String(length=255), nullable=False),
        sa.Column('phone_number_id', sa.String(length=64), nullable=True),
        sa.Column('phone_provider', sa.String(length=32), nullable=False),
        sa.Column('scheduled_at', _TS, nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('target_concurrency_limit', sa.Integer(), nullable=True),
        sa.Column('telephony_call_config', sa.JSON(), nullable=False),
        sa.Column('calling_window', sa.JSON(), nullable=False),
        sa.Column('retry_policy', sa.JSON(), nullable=False),
        sa.Column('retry_count', sa.Integer(), nullable=False),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('updated_at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('batch_id'),
    )
    with op.batch_alter_table('batch_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_calls_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_calls_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_calls_created_at'), ['created_at'], unique=False)

    op.create_table(
        'batch_recipients',
        sa.Column('recipient_id', sa.String(length=64), nullable=False),
        sa.Column('batch_id', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('phone_number', sa.String(length=32), nullable=False),
        sa.Column('client_data', sa.JSON(), nullable=False),
        sa.Column('timezones', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', _TS, nullable=True),
        sa.Column('conversation_id', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.String(length=255), nullable=True),
        sa.Column('checked_at', _TS, nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('updated_at', _TS, nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batch_calls.batch_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('recipient_id'),
        sa.UniqueConstraint('batch_id', 'phone_number'),
    )
    with op.batch_alter_table('batch_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_recipients_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_batch_recipients_conversation_id'), ['conversation_id'], unique=False
        )
        batch_op.create_index('ix_batch_recipients_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table(
        'batch_attempts',
        sa.Column('attempt_id', sa.String(length=64), nullable=False),
        sa.Column('recipient_id', sa.String(length=64), nullable=False),
        sa.Column('batch_id', sa.String(length=64), nullable=False),
        sa.Column('attempt_no', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=64), nullable=True),
        sa.Column('call_sid', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=True),
        sa.Column('answered_by', sa.String(length=32), nullable=True),
        sa.Column('started_at', _TS, nullable=False),
        sa.Column('ended_at', _TS, nullable=True),
        sa.ForeignKeyConstraint(['recipient_id'], ['batch_recipients.recipient_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('attempt_id'),
        sa.UniqueConstraint('recipient_id', 'attempt_no'),
    )
    with op.batch_alter_table('batch_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_attempts_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_attempts_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_batch_attempts_conversation_id'), ['conversation_id'], unique=False
        )

    op.create_table(
        'suppression_list',
        sa.Column('phone_number', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('phone_number'),
    )
    with op.batch_alter_table('suppression_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppression_list_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('suppression_list')
    op.drop_table('batch_attempts')
    op.drop_table('batch_recipients')
    op.drop_table('batch_calls')
