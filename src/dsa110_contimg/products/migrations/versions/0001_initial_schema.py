"""Initial schema: raw files, groups, MS, calibration, images, sources, photometry,
variability, candidates, mosaics, jobs with batch items, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 15:15:49.410299
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_events_topic_id", ["topic", "id"], unique=False)

    op.create_table(
        "mosaics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("mjd_start", sa.Float(), nullable=False),
        sa.Column("mjd_end", sa.Float(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("size_x", sa.Integer(), nullable=False),
        sa.Column("size_y", sa.Integer(), nullable=False),
        sa.Column("cell_arcsec", sa.Float(), nullable=False),
        sa.Column("noise_jy", sa.Float(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "ok",
                "failed",
                "superseded",
                name="mosaic_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("preview_path", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mosaics")),
        sa.UniqueConstraint("name", name=op.f("uq_mosaics_name")),
        sa.UniqueConstraint("path", name=op.f("uq_mosaics_path")),
    )
    with op.batch_alter_table("mosaics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mosaics_mjd_start"), ["mjd_start"], unique=False)

    op.create_table(
        "observation_groups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_mjd", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=True),
        sa.Column("files_present", sa.Integer(), nullable=False),
        sa.Column("files_expected", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "collecting",
                "complete",
                "incomplete",
                "queued",
                "processing",
                "done",
                "failed",
                name="group_state",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_groups")),
    )
    with op.batch_alter_table("observation_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observation_groups_start_mjd"), ["start_mjd"], unique=False
        )
        batch_op.create_index(
            "ix_observation_groups_state_start", ["state", "start_mjd"], unique=False
        )

    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("catalog", sa.String(length=32), nullable=True),
        sa.Column("catalog_id", sa.String(length=64), nullable=True),
        sa.Column("catalog_flux_jy", sa.Float(), nullable=True),
        sa.Column("catalog_flux_err_jy", sa.Float(), nullable=True),
        sa.Column("major_arcsec", sa.Float(), nullable=True),
        sa.Column("minor_arcsec", sa.Float(), nullable=True),
        sa.Column("is_reference", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("dec_deg >= -90 AND dec_deg <= 90", name=op.f("ck_sources_dec_range")),
        sa.CheckConstraint("ra_deg >= 0 AND ra_deg < 360", name=op.f("ck_sources_ra_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sources_catalog_id"), ["catalog_id"], unique=False)
        batch_op.create_index("ix_sources_dec_ra", ["dec_deg", "ra_deg"], unique=False)
        batch_op.create_index(batch_op.f("ix_sources_is_reference"), ["is_reference"], unique=False)

    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "variable",
                "ese",
                "new_source",
                name="candidate_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("preset", sa.String(length=32), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "confirmed",
                "dismissed",
                name="candidate_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_candidates_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("source_id", "kind", name="uq_candidates_source_kind"),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index("ix_candidates_status_score", ["status", "score"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("job_type", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                name="job_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.Column("software_version", sa.String(length=64), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("log_path", sa.String(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["observation_groups.id"],
            name=op.f("fk_jobs_group_id_observation_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["jobs.id"], name=op.f("fk_jobs_parent_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_jobs_run_id")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_job_type"), ["job_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_jobs_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "ms_index",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=True),
        sa.Column("mjd_start", sa.Float(), nullable=False),
        sa.Column("mjd_mid", sa.Float(), nullable=False),
        sa.Column("mjd_end", sa.Float(), nullable=False),
        sa.Column("pointing_ra_deg", sa.Float(), nullable=True),
        sa.Column("pointing_dec_deg", sa.Float(), nullable=True),
        sa.Column("phase_ra_deg", sa.Float(), nullable=True),
        sa.Column("phase_dec_deg", sa.Float(), nullable=True),
        sa.Column("field_name", sa.String(length=64), nullable=True),
        sa.Column("n_rows", sa.Integer(), nullable=True),
        sa.Column("n_channels", sa.Integer(), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "converted",
                "flagged",
                "calibrated",
                "imaged",
                name="ms_stage",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "ok",
                "failed",
                "superseded",
                name="ms_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("cal_applied", sa.Boolean(), nullable=False),
        sa.Column("calibrator", sa.String(length=64), nullable=True),
        sa.Column("flag_fraction", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("qa_metrics", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["observation_groups.id"],
            name=op.f("fk_ms_index_group_id_observation_groups"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ms_index")),
        sa.UniqueConstraint("path", name=op.f("uq_ms_index_path")),
    )
    with op.batch_alter_table("ms_index", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ms_index_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ms_index_mjd_mid"), ["mjd_mid"], unique=False)

    op.create_table(
        "raw_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=True),
        sa.Column("subband", sa.Integer(), nullable=False),
        sa.Column("start_mjd", sa.Float(), nullable=True),
        sa.Column("end_mjd", sa.Float(), nullable=True),
        sa.Column("n_times", sa.Integer(), nullable=True),
        sa.Column("dec_deg", sa.Float(), nullable=True),
        sa.Column("freq_min_hz", sa.Float(), nullable=True),
        sa.Column("freq_max_hz", sa.Float(), nullable=True),
        sa.Column("n_antennas", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "indexed",
                "converted",
                "quarantined",
                name="file_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("quarantine_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "subband >= 0 AND subband < 16", name=op.f("ck_raw_files_subband_range")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["observation_groups.id"],
            name=op.f("fk_raw_files_group_id_observation_groups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_files")),
        sa.UniqueConstraint("path", name=op.f("uq_raw_files_path")),
    )
    with op.batch_alter_table("raw_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raw_files_group_id"), ["group_id"], unique=False)

    op.create_table(
        "variability_metrics",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("n_epochs", sa.Integer(), nullable=False),
        sa.Column("first_mjd", sa.Float(), nullable=True),
        sa.Column("last_mjd", sa.Float(), nullable=True),
        sa.Column("mean_flux_jy", sa.Float(), nullable=True),
        sa.Column("weighted_mean_flux_jy", sa.Float(), nullable=True),
        sa.Column("std_flux_jy", sa.Float(), nullable=True),
        sa.Column("v", sa.Float(), nullable=True),
        sa.Column("eta", sa.Float(), nullable=True),
        sa.Column("chi2_nu", sa.Float(), nullable=True),
        sa.Column("vs_max", sa.Float(), nullable=True),
        sa.Column("m2_max", sa.Float(), nullable=True),
        sa.Column("sigma_deviation", sa.Float(), nullable=True),
        sa.Column("sum_w", sa.Float(), nullable=False),
        sa.Column("sum_wf", sa.Float(), nullable=False),
        sa.Column("sum_wf2", sa.Float(), nullable=False),
        sa.Column("sum_f", sa.Float(), nullable=False),
        sa.Column("sum_f2", sa.Float(), nullable=False),
        sa.Column("min_flux_jy", sa.Float(), nullable=True),
        sa.Column("min_flux_err_jy", sa.Float(), nullable=True),
        sa.Column("max_flux_jy", sa.Float(), nullable=True),
        sa.Column("max_flux_err_jy", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_variability_metrics_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_variability_metrics")),
    )
    with op.batch_alter_table("variability_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_variability_metrics_eta_v", ["eta", "v"], unique=False)

    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_type", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=1024), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                name="batch_item_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["jobs.id"], name=op.f("fk_batch_items_batch_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_batch_items_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_items")),
        sa.UniqueConstraint("batch_id", "position", name="uq_batch_items_position"),
    )
    with op.batch_alter_table("batch_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_items_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "cal_tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column(
            "table_type",
            sa.Enum(
                "bandpass",
                "gain",
                "phase",
                "delay",
                name="cal_table_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("set_name", sa.String(length=128), nullable=False),
        sa.Column("calibrator", sa.String(length=64), nullable=True),
        sa.Column("refant", sa.String(length=16), nullable=True),
        sa.Column("valid_start_mjd", sa.Float(), nullable=False),
        sa.Column("valid_end_mjd", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "valid",
                "expired",
                "rejected",
                "superseded",
                name="cal_table_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("source_ms_id", sa.Integer(), nullable=True),
        sa.Column("source_ms_path", sa.String(length=1024), nullable=True),
        sa.Column("solver", sa.String(length=64), nullable=True),
        sa.Column("solver_version", sa.String(length=32), nullable=True),
        sa.Column("solver_params", sa.JSON(), nullable=True),
        sa.Column("qa_metrics", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "valid_end_mjd >= valid_start_mjd", name=op.f("ck_cal_tables_validity_order")
        ),
        sa.ForeignKeyConstraint(
            ["source_ms_id"],
            ["ms_index.id"],
            name=op.f("fk_cal_tables_source_ms_id_ms_index"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cal_tables")),
        sa.UniqueConstraint("path", name=op.f("uq_cal_tables_path")),
    )
    with op.batch_alter_table("cal_tables", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cal_tables_set_name"), ["set_name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cal_tables_source_ms_id"), ["source_ms_id"], unique=False
        )
        batch_op.create_index(
            "ix_cal_tables_validity", ["table_type", "status", "valid_start_mjd"], unique=False
        )

    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("ms_id", sa.Integer(), nullable=True),
        sa.Column("image_type", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "ok",
                "failed",
                "superseded",
                name="image_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("mjd_obs", sa.Float(), nullable=False),
        sa.Column("ra_deg", sa.Float(), nullable=False),
        sa.Column("dec_deg", sa.Float(), nullable=False),
        sa.Column("size_x", sa.Integer(), nullable=False),
        sa.Column("size_y", sa.Integer(), nullable=False),
        sa.Column("cell_arcsec", sa.Float(), nullable=False),
        sa.Column("freq_hz", sa.Float(), nullable=True),
        sa.Column("bandwidth_hz", sa.Float(), nullable=True),
        sa.Column("integration_s", sa.Float(), nullable=True),
        sa.Column("beam_major_arcsec", sa.Float(), nullable=True),
        sa.Column("beam_minor_arcsec", sa.Float(), nullable=True),
        sa.Column("beam_pa_deg", sa.Float(), nullable=True),
        sa.Column("noise_jy", sa.Float(), nullable=True),
        sa.Column("peak_jy", sa.Float(), nullable=True),
        sa.Column("dynamic_range", sa.Float(), nullable=True),
        sa.Column("pbcor", sa.Boolean(), nullable=False),
        sa.Column(
            "qa_grade",
            sa.Enum(
                "good",
                "warn",
                "fail",
                name="qa_grade",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("qa_metrics", sa.JSON(), nullable=True),
        sa.Column("preview_path", sa.String(length=1024), nullable=True),
        sa.Column("thumbnail_path", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ms_id"], ["ms_index.id"], name=op.f("fk_images_ms_id_ms_index"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("ms_id", "image_type", "version", name="uq_images_ms_type_version"),
        sa.UniqueConstraint("path", name=op.f("uq_images_path")),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_images_mjd_obs"), ["mjd_obs"], unique=False)
        batch_op.create_index(batch_op.f("ix_images_ms_id"), ["ms_id"], unique=False)

    op.create_table(
        "cal_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ms_id", sa.Integer(), nullable=False),
        sa.Column("cal_table_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cal_table_id"],
            ["cal_tables.id"],
            name=op.f("fk_cal_applications_cal_table_id_cal_tables"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_cal_applications_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ms_id"],
            ["ms_index.id"],
            name=op.f("fk_cal_applications_ms_id_ms_index"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cal_applications")),
        sa.UniqueConstraint("ms_id", "cal_table_id", name="uq_cal_applications_ms_table"),
    )
    with op.batch_alter_table("cal_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cal_applications_cal_table_id"), ["cal_table_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cal_applications_ms_id"), ["ms_id"], unique=False)

    op.create_table(
        "epoch_normalisations",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("factor_err", sa.Float(), nullable=False),
        sa.Column("n_references", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_epoch_normalisations_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_epoch_normalisations")),
    )
    op.create_table(
        "mosaic_tiles",
        sa.Column("mosaic_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_mosaic_tiles_image_id_images"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["mosaic_id"],
            ["mosaics.id"],
            name=op.f("fk_mosaic_tiles_mosaic_id_mosaics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mosaic_id", "image_id", name=op.f("pk_mosaic_tiles")),
    )
    with op.batch_alter_table("mosaic_tiles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mosaic_tiles_image_id"), ["image_id"], unique=False)

    op.create_table(
        "photometry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("mjd", sa.Float(), nullable=False),
        sa.Column("flux_jy", sa.Float(), nullable=False),
        sa.Column("flux_err_jy", sa.Float(), nullable=False),
        sa.Column("snr", sa.Float(), nullable=True),
        sa.Column("local_rms_jy", sa.Float(), nullable=True),
        sa.Column("norm_flux_jy", sa.Float(), nullable=True),
        sa.Column("norm_flux_err_jy", sa.Float(), nullable=True),
        sa.Column("chi2", sa.Float(), nullable=True),
        sa.Column("is_upper_limit", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_photometry_image_id_images"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_photometry_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photometry")),
        sa.UniqueConstraint("source_id", "image_id", name="uq_photometry_source_image"),
    )
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_photometry_image_id"), ["image_id"], unique=False)
        batch_op.create_index(
            "ix_photometry_source_mjd",
            [
                "source_id",
                "mjd",
                "flux_jy",
                "flux_err_jy",
                "norm_flux_jy",
                "norm_flux_err_jy",
                "snr",
                "local_rms_jy",
                "is_upper_limit",
                "flags",
                "image_id",
            ],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("photometry", schema=None) as batch_op:
        batch_op.drop_index("ix_photometry_source_mjd")
        batch_op.drop_index(batch_op.f("ix_photometry_image_id"))

    op.drop_table("photometry")
    with op.batch_alter_table("mosaic_tiles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mosaic_tiles_image_id"))

    op.drop_table("mosaic_tiles")
    op.drop_table("epoch_normalisations")
    with op.batch_alter_table("cal_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cal_applications_ms_id"))
        batch_op.drop_index(batch_op.f("ix_cal_applications_cal_table_id"))

    op.drop_table("cal_applications")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_ms_id"))
        batch_op.drop_index(batch_op.f("ix_images_mjd_obs"))

    op.drop_table("images")
    with op.batch_alter_table("cal_tables", schema=None) as batch_op:
        batch_op.drop_index("ix_cal_tables_validity")
        batch_op.drop_index(batch_op.f("ix_cal_tables_source_ms_id"))
        batch_op.drop_index(batch_op.f("ix_cal_tables_set_name"))

    op.drop_table("cal_tables")
    with op.batch_alter_table("batch_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_items_batch_id"))

    op.drop_table("batch_items")
    with op.batch_alter_table("variability_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_variability_metrics_eta_v")

    op.drop_table("variability_metrics")
    with op.batch_alter_table("raw_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_files_group_id"))

    op.drop_table("raw_files")
    with op.batch_alter_table("ms_index", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ms_index_mjd_mid"))
        batch_op.drop_index(batch_op.f("ix_ms_index_group_id"))

    op.drop_table("ms_index")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status_created")
        batch_op.drop_index(batch_op.f("ix_jobs_parent_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_job_type"))
        batch_op.drop_index(batch_op.f("ix_jobs_group_id"))

    op.drop_table("jobs")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_candidates_status_score")

    op.drop_table("candidates")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sources_is_reference"))
        batch_op.drop_index("ix_sources_dec_ra")
        batch_op.drop_index(batch_op.f("ix_sources_catalog_id"))

    op.drop_table("sources")
    with op.batch_alter_table("observation_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_observation_groups_state_start")
        batch_op.drop_index(batch_op.f("ix_observation_groups_start_mjd"))

    op.drop_table("observation_groups")
    with op.batch_alter_table("mosaics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mosaics_mjd_start"))

    op.drop_table("mosaics")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_topic_id")
        batch_op.drop_index(batch_op.f("ix_events_created_at"))

    op.drop_table("events")
