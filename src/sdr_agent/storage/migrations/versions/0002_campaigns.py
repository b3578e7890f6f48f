"""campaigns: batch calls, recipients, attempts, suppression list

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 17:00:00

Placeholder reserved for issue 13 so that parallel work keeps one linear chain; it is filled in by that work.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
