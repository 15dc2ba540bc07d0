"""Mosaics made by the daemon: versions and periods (issue 18).

A mosaic the stream daemon makes covers one declination strip
(``mosaics.strip_dec_deg``, the strip's centre) over one period
(``mosaics.period``, e.g. ``1d``, starting at ``mosaics.period_start_mjd``).
Made again (a tile re-imaged, rated bad, or arrived late), the new mosaic is
the next ``version`` and the old one is ``superseded`` with
``superseded_by_id`` pointing at it. Rows written before this revision are
version 1 with no strip or period (made by hand).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mosaics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strip_dec_deg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("period", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("period_start_mjd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_mosaics_superseded_by_id_mosaics"),
            "mosaics",
            ["superseded_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_mosaics_strip_period", ["strip_dec_deg", "period", "period_start_mjd"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mosaics", schema=None) as batch_op:
        batch_op.drop_index("ix_mosaics_strip_period")
        batch_op.drop_constraint(op.f("fk_mosaics_superseded_by_id_mosaics"), type_="foreignkey")
        batch_op.drop_column("superseded_by_id")
        batch_op.drop_column("version")
        batch_op.drop_column("period_start_mjd")
        batch_op.drop_column("period")
        batch_op.drop_column("strip_dec_deg")
