"""Indexes for sorted lists: each list sort walks an index on (sort column, id).

Sources by RA, Dec and catalog flux; variability metrics by eta, V and epochs
(replacing the (eta, v) index, which could not order by eta then source id);
candidates by score; jobs by creation time. Without them a page of a sorted
list sorted the whole table (tens of ms at 10^4 sources).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:26:49.333263
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index, table, columns) created by this revision.
INDEXES = (
    ("ix_candidates_score_id", "candidates", ["score", "id"]),
    ("ix_jobs_created_id", "jobs", ["created_at", "id"]),
    ("ix_sources_catalog_flux_id", "sources", ["catalog_flux_jy", "id"]),
    ("ix_sources_dec_id", "sources", ["dec_deg", "id"]),
    ("ix_sources_ra_id", "sources", ["ra_deg", "id"]),
    ("ix_variability_metrics_eta", "variability_metrics", ["eta", "source_id"]),
    ("ix_variability_metrics_n_epochs", "variability_metrics", ["n_epochs", "source_id"]),
    ("ix_variability_metrics_v", "variability_metrics", ["v", "source_id"]),
)


def upgrade() -> None:
    op.drop_index("ix_variability_metrics_eta_v", table_name="variability_metrics")
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.create_index("ix_variability_metrics_eta_v", "variability_metrics", ["eta", "v"])
