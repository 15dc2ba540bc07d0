"""Measurement Sets, calibration tables and where each table was applied."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsa110_contimg.products.models.base import Base, _state, _Timestamps, utcnow
from dsa110_contimg.products.models.states import (
    CalTableStatus,
    CalTableType,
    MSStage,
    ProductStatus,
)

if TYPE_CHECKING:  # relationship targets, resolved by the mapper registry at run time
    from dsa110_contimg.products.models.groups import ObservationGroup
    from dsa110_contimg.products.models.images import Image


class MeasurementSet(_Timestamps, Base):
    """One Measurement Set made from one group (``ms_index``)."""

    __tablename__ = "ms_index"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("observation_groups.id", ondelete="RESTRICT"), index=True
    )
    mjd_start: Mapped[float] = mapped_column(sa.Float)
    mjd_mid: Mapped[float] = mapped_column(sa.Float, index=True)
    mjd_end: Mapped[float] = mapped_column(sa.Float)
    pointing_ra_deg: Mapped[float | None] = mapped_column(sa.Float)
    pointing_dec_deg: Mapped[float | None] = mapped_column(sa.Float)
    phase_ra_deg: Mapped[float | None] = mapped_column(sa.Float)
    phase_dec_deg: Mapped[float | None] = mapped_column(sa.Float)
    field_name: Mapped[str | None] = mapped_column(sa.String(64))
    n_rows: Mapped[int | None]
    n_channels: Mapped[int | None]
    stage: Mapped[MSStage] = mapped_column(_state(MSStage, "ms_stage"), default=MSStage.CONVERTED)
    status: Mapped[ProductStatus] = mapped_column(
        _state(ProductStatus, "ms_status"), default=ProductStatus.OK
    )
    cal_applied: Mapped[bool] = mapped_column(default=False)
    calibrator: Mapped[str | None] = mapped_column(
        sa.String(64), doc="Calibrator transiting, if any"
    )
    flag_fraction: Mapped[float | None] = mapped_column(sa.Float)
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    qa_metrics: Mapped[dict[str, Any] | None]
    note: Mapped[str | None] = mapped_column(
        sa.Text, doc="Why a stage was skipped, e.g. which tables were missing (human-readable)"
    )
    purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the MS from disk (status ``purged``)"
    )

    group: Mapped[ObservationGroup | None] = relationship(back_populates="measurement_sets")
    images: Mapped[list[Image]] = relationship(back_populates="ms")


class CalTable(_Timestamps, Base):
    """A calibration table solved on one MS.

    Its ``status`` says whether it may still be chosen: ``valid``;
    ``superseded`` when a newer table of the same type and strip covering its
    whole validity was registered (``superseded_by_id``); ``expired`` when its
    validity ended more than a grace period before the newest group. Marked
    tables are kept (and listed), never deleted: applications refer to them.
    """

    __tablename__ = "cal_tables"
    __table_args__ = (
        sa.CheckConstraint("valid_end_mjd >= valid_start_mjd", name="validity_order"),
        sa.Index("ix_cal_tables_validity", "table_type", "status", "valid_start_mjd"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    table_type: Mapped[CalTableType] = mapped_column(_state(CalTableType, "cal_table_type"))
    set_name: Mapped[str] = mapped_column(sa.String(128), index=True)
    calibrator: Mapped[str | None] = mapped_column(sa.String(64))
    refant: Mapped[str | None] = mapped_column(sa.String(16))
    valid_start_mjd: Mapped[float] = mapped_column(sa.Float)
    valid_end_mjd: Mapped[float] = mapped_column(sa.Float)
    dec_deg: Mapped[float | None] = mapped_column(sa.Float)
    status: Mapped[CalTableStatus] = mapped_column(
        _state(CalTableStatus, "cal_table_status"), default=CalTableStatus.VALID
    )
    source_ms_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ms_index.id", ondelete="RESTRICT"), index=True
    )
    source_ms_path: Mapped[str | None] = mapped_column(sa.String(1024))
    solver: Mapped[str | None] = mapped_column(sa.String(64))
    solver_version: Mapped[str | None] = mapped_column(sa.String(32))
    solver_params: Mapped[dict[str, Any] | None]
    qa_metrics: Mapped[dict[str, Any] | None]
    superseded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cal_tables.id", ondelete="SET NULL"),
        doc="The newer table of the same type and strip that covers this one's validity",
    )
    purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the table from disk (status ``purged``)"
    )

    source_ms: Mapped[MeasurementSet | None] = relationship()


class CalApplication(Base):
    """A calibration table applied to an MS."""

    __tablename__ = "cal_applications"
    __table_args__ = (
        sa.UniqueConstraint("ms_id", "cal_table_id", name="uq_cal_applications_ms_table"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ms_id: Mapped[int] = mapped_column(sa.ForeignKey("ms_index.id", ondelete="CASCADE"), index=True)
    cal_table_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cal_tables.id", ondelete="RESTRICT"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    ms: Mapped[MeasurementSet] = relationship()
    cal_table: Mapped[CalTable] = relationship()
