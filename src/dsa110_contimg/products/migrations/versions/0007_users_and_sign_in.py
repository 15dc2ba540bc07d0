"""Named users and their sign-in sessions (issue 19).

Placeholder: filled in by the sign-in work; no schema change yet.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
