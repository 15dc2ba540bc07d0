"""Versioned primary-beam models and the images they corrected (issue 16).

``beam_models`` holds the versions of the beam measured on the sky (forced /
catalog flux ratios of steady sources against their offset from the
pointing): ``kind`` ``airy`` (the Airy with a fitted ``fwhm_scale``) or
``measured`` (a radial profile of gains in ``profile``, JSON), valid from
``valid_from_mjd``; a newer version supersedes the current one
(``superseded_by_id``). ``images.beam_model_id`` records the model an image
was pb-corrected with (null: the pipeline's Airy, as for every image written
before this revision); a model that corrected images cannot be deleted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "beam_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "airy",
                "measured",
                name="beam_model_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("fwhm_scale", sa.Float(), nullable=False),
        sa.Column("valid_from_mjd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["beam_models.id"],
            name=op.f("fk_beam_models_superseded_by_id_beam_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_beam_models")),
        sa.UniqueConstraint("version", name=op.f("uq_beam_models_version")),
    )
    with op.batch_alter_table("beam_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_beam_models_valid_from_mjd"), ["valid_from_mjd"], unique=False
        )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("beam_model_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_images_beam_model_id_beam_models"),
            "beam_models",
            ["beam_model_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_index(
            batch_op.f("ix_images_beam_model_id"), ["beam_model_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_beam_model_id"))
        batch_op.drop_constraint(op.f("fk_images_beam_model_id_beam_models"), type_="foreignkey")
        batch_op.drop_column("beam_model_id")
    with op.batch_alter_table("beam_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_beam_models_valid_from_mjd"))
    op.drop_table("beam_models")
