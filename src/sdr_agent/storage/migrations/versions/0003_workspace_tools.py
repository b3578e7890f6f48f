"""workspace tools

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 17:00:00

Workspace tools (``/v1/convai/tools``), referenced by agents through ``prompt.tool_ids``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'workspace_tools',
        sa.Column('tool_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('tool_type', sa.String(length=16), nullable=False),
        sa.Column('tool_config', sa.JSON(), nullable=False),
        sa.Column('response_mocks', sa.JSON(), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('updated_at', _TS, nullable=False),
        sa.PrimaryKeyConstraint('tool_id'),
    )
    with op.batch_alter_table('workspace_tools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_tools_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_workspace_tools_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('workspace_tools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_tools_created_at'))
        batch_op.drop_index(batch_op.f('ix_workspace_tools_name'))
    op.drop_table('workspace_tools')
