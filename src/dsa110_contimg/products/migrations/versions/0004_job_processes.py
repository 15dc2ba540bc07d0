"""Which process runs a job, and which external program it runs now.

``jobs.worker_pid`` is the pipeline process (on ``jobs.host``) that runs the
job; at start, ``recover()`` fails or requeues only the running jobs whose
process is gone, and leaves pending ones (API batches) to be claimed.
``jobs.child_pgid`` is the process group of the external program (WSClean, a
CASA helper) the job runs at the moment, cleared when it ends; ``recover()``
kills a recorded group that survived its daemon. Rows written before this
revision have neither.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("child_pgid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("child_pgid")
        batch_op.drop_column("worker_pid")
