"""Purged products: the storage lifecycle removes files but keeps their rows.

The states ``purged`` join ``file_status`` (raw UVH5 files), the product
status shared by ``ms_status``, ``image_status`` and ``mosaic_status``, and
``cal_table_status``; ``raw_files``, ``ms_index``, ``images`` and
``cal_tables`` gain ``purged_at`` (when the file went), and ``jobs`` gains
``log_purged_at`` (a job's log file removed, the job row kept). Downgrade
refuses nothing: purged rows go back to the nearest older state (raw files
``converted``, products ``superseded``, tables ``expired``) with the time
dropped, since their files stay gone.

Revision ID: 0005
Revises: 0004 (0003 in the brief; chained after 0004, already in the tree, to keep one head)
Create Date: 2026-12-04 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, CHECK/type name, states before, states after, state a purged row takes on downgrade)
_FILE = ("indexed", "converted", "quarantined")
_PRODUCT = ("ok", "failed", "superseded")
_CAL = ("valid", "expired", "rejected", "superseded")
STATES = (
    ("raw_files", "file_status", _FILE, "converted"),
    ("ms_index", "ms_status", _PRODUCT, "superseded"),
    ("images", "image_status", _PRODUCT, "superseded"),
    ("mosaics", "mosaic_status", _PRODUCT, "superseded"),
    ("cal_tables", "cal_table_status", _CAL, "expired"),
)
PURGED_AT = ("raw_files", "ms_index", "images", "cal_tables")


def _status(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _alter_status(table: str, name: str, values: tuple[str, ...]) -> None:
    # The CHECK constraint goes with the type: drop it, then create the new one.
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(16),
            type_=_status(values, name),
            existing_nullable=False,
        )


def upgrade() -> None:
    for table, name, values, _ in STATES:
        _alter_status(table, name, (*values, "purged"))
    for table in PURGED_AT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("log_purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("log_purged_at")
    for table in PURGED_AT:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("purged_at")
    for table, name, values, fallback in STATES:
        rows = sa.table(table, sa.column("status", sa.String(16)))
        op.execute(rows.update().where(rows.c.status == "purged").values(status=fallback))
        _alter_status(table, name, values)
