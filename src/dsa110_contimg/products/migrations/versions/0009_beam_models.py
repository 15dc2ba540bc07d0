"""Versioned primary-beam models and the images they corrected (issue 16).

Placeholder: filled in by the beam work; no schema change yet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
