"""hardening: encrypted secrets, shared call tokens, rate-limit counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 17:00:00

Placeholder reserved for issue 17 so that parallel work keeps one linear chain; it is filled in by that work.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
