"""Waiting for calibration as an MS stage; which table superseded a calibration table.

``ms_index.stage`` gains ``waiting_cal``: the MS is flagged but no valid
tables cover its time and strip yet (its calibrator has not transited). The
wait belongs to the MS, not to the group: the tables are chosen for the MS's
mid time and pointing declination, a requeued group re-enters the queue
through the group states it already has (queued, processing, done, failed),
and the runner alone owns those. Until now the wait was a note prefix
(``left uncalibrated: ...``) that the requeue searched with LIKE; the note
stays, as the human-readable reason. Upgrade moves every uncalibrated MS whose
note carries that prefix to ``waiting_cal``; downgrade moves them back to
``flagged`` and makes sure their note carries the prefix again.

``cal_tables.superseded_by_id`` records the newer table of the same type and
strip whose validity covers a table marked ``superseded`` (the status
existed; nothing set it). Tables marked before this revision have none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: How the calibrate stage's note on an MS without valid tables began (frozen here).
NOTE_PREFIX = "left uncalibrated"

OLD_STAGES = ("converted", "flagged", "calibrated", "imaged")
NEW_STAGES = ("converted", "flagged", "waiting_cal", "calibrated", "imaged")

ms_index = sa.table(
    "ms_index",
    sa.column("stage", sa.String(16)),
    sa.column("cal_applied", sa.Boolean()),
    sa.column("note", sa.Text()),
)


def _stage(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="ms_stage", native_enum=False, create_constraint=True, length=16)


def _alter_stage(stages: tuple[str, ...]) -> None:
    # The CHECK constraint goes with the type: drop it, then create the new one.
    with op.batch_alter_table("ms_index", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_ms_index_ms_stage"), type_="check")
    with op.batch_alter_table("ms_index", schema=None) as batch_op:
        batch_op.alter_column(
            "stage", existing_type=sa.String(16), type_=_stage(stages), existing_nullable=False
        )


def upgrade() -> None:
    _alter_stage(NEW_STAGES)
    op.execute(
        ms_index.update()
        .where(ms_index.c.cal_applied.is_(False), ms_index.c.note.startswith(NOTE_PREFIX))
        .values(stage="waiting_cal")
    )
    with op.batch_alter_table("cal_tables", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_cal_tables_superseded_by_id_cal_tables"),
            "cal_tables",
            ["superseded_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("cal_tables", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_cal_tables_superseded_by_id_cal_tables"), type_="foreignkey"
        )
        batch_op.drop_column("superseded_by_id")
    waiting = ms_index.c.stage == "waiting_cal"
    op.execute(
        ms_index.update()
        .where(waiting, sa.or_(ms_index.c.note.is_(None), ~ms_index.c.note.startswith(NOTE_PREFIX)))
        .values(
            note=sa.literal(f"{NOTE_PREFIX}: ")
            + sa.func.coalesce(ms_index.c.note, "waiting for calibration")
        )
    )
    op.execute(ms_index.update().where(waiting).values(stage="flagged"))
    _alter_stage(OLD_STAGES)
