"""Idempotent batch requests; who gave a candidate's verdict, and when.

``jobs.idempotency_key`` is the ``Idempotency-Key`` header of the API request
that created a batch, unique per requester (``requested_by``), and
``jobs.request_digest`` the SHA-256 of that request's operation and body: the
same key with the same body returns the first batch, with another body it is
refused. ``candidates.reviewed_by`` and ``candidates.reviewed_at`` record who
gave the last verdict (an API key's fingerprint, never the key) and when.
Rows written before this revision have none of them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            op.f("uq_jobs_idempotency"), ["requested_by", "idempotency_key"]
        )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_jobs_idempotency"), type_="unique")
        batch_op.drop_column("request_digest")
        batch_op.drop_column("idempotency_key")
