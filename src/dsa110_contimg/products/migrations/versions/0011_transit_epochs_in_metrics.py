"""Variability metrics count one epoch per transit (issue 16 §3).

A source is seen in two or three consecutive groups of one transit, whose
errors share the transit's calibration: the metrics now combine them into
one epoch (``variability.metrics.TransitState``). ``variability_metrics``
keeps the current transit's sightings apart as the open epoch
(``open_sightings``, ``open_start_mjd``, ``open_sum_w``, ``open_sum_wf``)
beside the closed epochs' sums and extremes (``closed_*``); the existing
columns count the open epoch as if closed. ``epoch_days`` is the span the
row was built with.

Rows written before this revision counted each sighting as an epoch, and
their sums cannot be split into transits without the light curve and the
preset's error floor, which a migration does not know: they keep their
values with ``epoch_days`` NULL, and the light-curve stage rebuilds each
from its stored light curve the next time the source is measured
(``variability.stage.rebuild_stale_metrics`` rebuilds them all at once).
Downgrade drops the new columns; the remaining sums are then per transit
(rebuild them with the older code's ``recompute_metrics`` if that matters).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZEROED = (
    "closed_sum_w",
    "closed_sum_wf",
    "closed_sum_wf2",
    "closed_sum_f",
    "closed_sum_f2",
)
NULLABLE = (
    "closed_min_flux_jy",
    "closed_min_flux_err_jy",
    "closed_max_flux_jy",
    "closed_max_flux_err_jy",
)


def upgrade() -> None:
    with op.batch_alter_table("variability_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("epoch_days", sa.Float(), nullable=True))
        for name in ZEROED:
            batch_op.add_column(sa.Column(name, sa.Float(), server_default="0", nullable=False))
        for name in NULLABLE:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("open_sightings", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("open_start_mjd", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("open_sum_w", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("open_sum_wf", sa.Float(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("variability_metrics", schema=None) as batch_op:
        for name in (
            "open_sum_wf",
            "open_sum_w",
            "open_start_mjd",
            "open_sightings",
            *reversed(NULLABLE),
            *reversed(ZEROED),
            "epoch_days",
        ):
            batch_op.drop_column(name)
