"""Vetting history (verdicts, tags, comments) and image ratings (issue 19).

``annotations`` is the history of what people said about a candidate, a
source or an image, one row per act, never updated: a verdict (``value``
confirmed, dismissed or needs_follow_up, ``text`` the reason), a tag or its
removal (``value`` the tag), a comment (``text``), an edit of a comment
(``comment_id`` the comment, ``text`` the new text: the earlier ones stay),
an image rating (``value`` good or bad, ``text`` the comment). ``author`` is
``user:<name>`` or an API key's fingerprint. Two indexes serve the history of
one target and the filters (a tag, a verdict).

``candidates.status`` gains ``needs_follow_up``. ``images.rating`` is the last
rating (null: never rated), indexed: the light curves leave out the
measurements on ``bad`` images. Rows written before this revision have no
history; downgrade turns ``needs_follow_up`` verdicts back into ``new``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("new", "confirmed", "dismissed")
NEW_STATUSES = ("new", "confirmed", "dismissed", "needs_follow_up")

candidates = sa.table("candidates", sa.column("status", sa.String(16)))


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _alter_status(statuses: tuple[str, ...]) -> None:
    # The CHECK constraint goes with the type: drop it, then create the new one.
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_candidates_candidate_status"), type_="check")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(16),
            type_=_enum("candidate_status", *statuses),
            existing_nullable=False,
        )


def upgrade() -> None:
    _alter_status(NEW_STATUSES)
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "target_kind",
            _enum("annotation_target", "candidate", "source", "image"),
            nullable=False,
        ),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "annotation_kind", "verdict", "tag", "untag", "comment", "comment_edit", "rating"
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["annotations.id"],
            name=op.f("fk_annotations_comment_id_annotations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
    )
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_annotations_kind_value", ["target_kind", "kind", "value", "target_id"], unique=False
        )
        batch_op.create_index(
            "ix_annotations_target", ["target_kind", "target_id", "id"], unique=False
        )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rating", _enum("image_rating", "good", "bad"), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_images_rating"), ["rating"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_rating"))
        batch_op.drop_constraint(op.f("ck_images_image_rating"), type_="check")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("rating")
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index("ix_annotations_target")
        batch_op.drop_index("ix_annotations_kind_value")
    op.drop_table("annotations")
    op.execute(
        candidates.update().where(candidates.c.status == "needs_follow_up").values(status="new")
    )
    _alter_status(OLD_STATUSES)
