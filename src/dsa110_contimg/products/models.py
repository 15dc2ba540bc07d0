"""The products database: every raw file, group, product and job.

This module and the Alembic migrations beside it are the one source of truth
for the schema. Conventions:

* times of events (``created_at``, ``started_at``...) are timezone-aware UTC
  datetimes; science times are MJD (UTC scale) floats named ``*_mjd``;
* angles are degrees (``ra_deg``, ``dec_deg``), fluxes janskys (``*_jy``),
  frequencies hertz (``*_hz``), sizes bytes;
* states are short lower-case strings from the ``StrEnum`` classes below,
  stored as VARCHAR with a CHECK constraint (the same on SQLite and
  PostgreSQL);
* deleting is deliberate: products that others were derived from cannot be
  deleted while their derivatives exist (``RESTRICT``), while purely
  dependent rows (a file's group membership, a batch's items) go with their
  parent (``CASCADE``). See each foreign key.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored in UTC and always returned timezone-aware.

    SQLite keeps no time zone; naive values read back are UTC by construction.
    Naive values given on write are refused rather than guessed.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: sa.JSON}


def _state(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enumerated column: VARCHAR plus a named CHECK constraint."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class _Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --------------------------------------------------------------------------
# States
# --------------------------------------------------------------------------
class FileStatus(enum.StrEnum):
    INDEXED = "indexed"
    CONVERTED = "converted"
    QUARANTINED = "quarantined"
    PURGED = "purged"


class GroupState(enum.StrEnum):
    COLLECTING = "collecting"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class MSStage(enum.StrEnum):
    """How far an MS has got; ``waiting_cal``: flagged, but no valid tables cover it yet."""

    CONVERTED = "converted"
    FLAGGED = "flagged"
    WAITING_CAL = "waiting_cal"
    CALIBRATED = "calibrated"
    IMAGED = "imaged"


class ProductStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    PURGED = "purged"
    """Its files were removed by the storage lifecycle; the row (metadata, provenance) stays."""


class CalTableType(enum.StrEnum):
    BANDPASS = "bandpass"
    GAIN = "gain"
    PHASE = "phase"
    DELAY = "delay"


class CalTableStatus(enum.StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    PURGED = "purged"


class QAGrade(enum.StrEnum):
    GOOD = "good"
    WARN = "warn"
    FAIL = "fail"


class CandidateKind(enum.StrEnum):
    VARIABLE = "variable"
    ESE = "ese"
    NEW_SOURCE = "new_source"


class CandidateStatus(enum.StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    NEEDS_FOLLOW_UP = "needs_follow_up"


class ImageRating(enum.StrEnum):
    """An operator's rating of an image: a ``bad`` one is left out of every light curve."""

    GOOD = "good"
    BAD = "bad"


class AnnotationTarget(enum.StrEnum):
    """What an :class:`Annotation` is about."""

    CANDIDATE = "candidate"
    SOURCE = "source"
    IMAGE = "image"


class AnnotationKind(enum.StrEnum):
    """One step of the vetting history (see :class:`Annotation`)."""

    VERDICT = "verdict"
    TAG = "tag"
    UNTAG = "untag"
    COMMENT = "comment"
    COMMENT_EDIT = "comment_edit"
    RATING = "rating"


class UserRole(enum.StrEnum):
    """What a named user may do: read, make the pipeline's writes, or also manage users."""

    READER = "reader"
    OPERATOR = "operator"
    ADMIN = "admin"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# --------------------------------------------------------------------------
# Raw data
# --------------------------------------------------------------------------
class ObservationGroup(_Timestamps, Base):
    """The 16 subband files of one 309 s chunk."""

    __tablename__ = "observation_groups"
    __table_args__ = (sa.Index("ix_observation_groups_state_start", "state", "start_mjd"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, doc="Start time, ISO 8601")
    start_time: Mapped[dt.datetime]
    start_mjd: Mapped[float] = mapped_column(sa.Float, index=True)
    dec_deg: Mapped[float | None] = mapped_column(sa.Float, doc="Pointing declination")
    files_present: Mapped[int] = mapped_column(default=0)
    files_expected: Mapped[int] = mapped_column(default=16)
    state: Mapped[GroupState] = mapped_column(
        _state(GroupState, "group_state"), default=GroupState.COLLECTING
    )
    completed_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(sa.Text)

    files: Mapped[list[RawFile]] = relationship(back_populates="group")
    measurement_sets: Mapped[list[MeasurementSet]] = relationship(back_populates="group")


class RawFile(_Timestamps, Base):
    """One UVH5 subband file seen in the incoming folder."""

    __tablename__ = "raw_files"
    __table_args__ = (sa.CheckConstraint("subband >= 0 AND subband < 16", name="subband_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("observation_groups.id", ondelete="SET NULL"), index=True
    )
    subband: Mapped[int]
    start_mjd: Mapped[float | None] = mapped_column(sa.Float)
    end_mjd: Mapped[float | None] = mapped_column(sa.Float)
    n_times: Mapped[int | None]
    dec_deg: Mapped[float | None] = mapped_column(sa.Float)
    freq_min_hz: Mapped[float | None] = mapped_column(sa.Float)
    freq_max_hz: Mapped[float | None] = mapped_column(sa.Float)
    n_antennas: Mapped[int | None]
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    mtime: Mapped[float] = mapped_column(sa.Float, doc="POSIX mtime when indexed")
    checksum: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[FileStatus] = mapped_column(
        _state(FileStatus, "file_status"), default=FileStatus.INDEXED
    )
    quarantine_reason: Mapped[str | None] = mapped_column(sa.Text)
    purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the file (status ``purged``)"
    )

    group: Mapped[ObservationGroup | None] = relationship(back_populates="files")


# --------------------------------------------------------------------------
# Measurement Sets and calibration
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Images and mosaics
# --------------------------------------------------------------------------
class Image(_Timestamps, Base):
    """A FITS image product with its beam and QA."""

    __tablename__ = "images"
    __table_args__ = (
        sa.UniqueConstraint("ms_id", "image_type", "version", name="uq_images_ms_type_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    ms_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ms_index.id", ondelete="RESTRICT"), index=True
    )
    image_type: Mapped[str] = mapped_column(sa.String(32), doc="image, image-pb, residual, ...")
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[ProductStatus] = mapped_column(
        _state(ProductStatus, "image_status"), default=ProductStatus.OK
    )
    mjd_obs: Mapped[float] = mapped_column(sa.Float, index=True, doc="Mid-time of the data")
    ra_deg: Mapped[float] = mapped_column(sa.Float)
    dec_deg: Mapped[float] = mapped_column(sa.Float)
    size_x: Mapped[int]
    size_y: Mapped[int]
    cell_arcsec: Mapped[float] = mapped_column(sa.Float)
    freq_hz: Mapped[float | None] = mapped_column(sa.Float)
    bandwidth_hz: Mapped[float | None] = mapped_column(sa.Float)
    integration_s: Mapped[float | None] = mapped_column(sa.Float)
    beam_major_arcsec: Mapped[float | None] = mapped_column(sa.Float)
    beam_minor_arcsec: Mapped[float | None] = mapped_column(sa.Float)
    beam_pa_deg: Mapped[float | None] = mapped_column(sa.Float)
    noise_jy: Mapped[float | None] = mapped_column(sa.Float)
    peak_jy: Mapped[float | None] = mapped_column(sa.Float)
    dynamic_range: Mapped[float | None] = mapped_column(sa.Float)
    pbcor: Mapped[bool] = mapped_column(default=False)
    qa_grade: Mapped[QAGrade | None] = mapped_column(_state(QAGrade, "qa_grade"))
    rating: Mapped[ImageRating | None] = mapped_column(
        _state(ImageRating, "image_rating"),
        index=True,
        doc="An operator's last rating (history in annotations); bad: left out of light curves",
    )
    qa_metrics: Mapped[dict[str, Any] | None]
    preview_path: Mapped[str | None] = mapped_column(sa.String(1024))
    thumbnail_path: Mapped[str | None] = mapped_column(sa.String(1024))
    purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the FITS file (status ``purged``)"
    )
    beam_model_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("beam_models.id", ondelete="RESTRICT"),
        index=True,
        doc="The registered primary-beam model it was corrected with (null: the Airy model)",
    )

    ms: Mapped[MeasurementSet | None] = relationship(back_populates="images")


class Mosaic(_Timestamps, Base):
    """A co-added mosaic of several images."""

    __tablename__ = "mosaics"
    __table_args__ = (
        sa.Index("ix_mosaics_strip_period", "strip_dec_deg", "period", "period_start_mjd"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    path: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    mjd_start: Mapped[float] = mapped_column(sa.Float, index=True)
    mjd_end: Mapped[float] = mapped_column(sa.Float)
    ra_deg: Mapped[float] = mapped_column(sa.Float)
    dec_deg: Mapped[float] = mapped_column(sa.Float)
    size_x: Mapped[int]
    size_y: Mapped[int]
    cell_arcsec: Mapped[float] = mapped_column(sa.Float)
    noise_jy: Mapped[float | None] = mapped_column(sa.Float)
    status: Mapped[ProductStatus] = mapped_column(
        _state(ProductStatus, "mosaic_status"), default=ProductStatus.OK
    )
    preview_path: Mapped[str | None] = mapped_column(sa.String(1024))
    strip_dec_deg: Mapped[float | None] = mapped_column(
        sa.Float, doc="Declination strip of a mosaic the daemon made (strip centre, deg)"
    )
    period: Mapped[str | None] = mapped_column(
        sa.String(16), doc="Period of a mosaic the daemon made, e.g. ``1d``"
    )
    period_start_mjd: Mapped[float | None] = mapped_column(
        sa.Float, doc="Start of that period, MJD (UTC)"
    )
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    superseded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("mosaics.id", ondelete="SET NULL"),
        doc="The newer version of the same strip and period (status ``superseded``)",
    )

    tiles: Mapped[list[MosaicTile]] = relationship(
        back_populates="mosaic", cascade="all, delete-orphan", passive_deletes=True
    )


class MosaicTile(Base):
    """An image that went into a mosaic, with its weight."""

    __tablename__ = "mosaic_tiles"

    mosaic_id: Mapped[int] = mapped_column(
        sa.ForeignKey("mosaics.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        sa.ForeignKey("images.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    weight: Mapped[float | None] = mapped_column(sa.Float)

    mosaic: Mapped[Mosaic] = relationship(back_populates="tiles")
    image: Mapped[Image] = relationship()


# --------------------------------------------------------------------------
# Sources, photometry, variability
# --------------------------------------------------------------------------
class Source(_Timestamps, Base):
    """A sky position we measure: from a catalog or found blindly."""

    __tablename__ = "sources"
    __table_args__ = (
        sa.Index("ix_sources_dec_ra", "dec_deg", "ra_deg"),
        # Sorted lists walk an index on (sort column, id) instead of sorting the table.
        sa.Index("ix_sources_ra_id", "ra_deg", "id"),
        sa.Index("ix_sources_dec_id", "dec_deg", "id"),
        sa.Index("ix_sources_catalog_flux_id", "catalog_flux_jy", "id"),
        sa.CheckConstraint("dec_deg >= -90 AND dec_deg <= 90", name="dec_range"),
        sa.CheckConstraint("ra_deg >= 0 AND ra_deg < 360", name="ra_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    ra_deg: Mapped[float] = mapped_column(sa.Float)
    dec_deg: Mapped[float] = mapped_column(sa.Float)
    catalog: Mapped[str | None] = mapped_column(sa.String(32), doc="e.g. NVSS, sim, blind")
    catalog_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    catalog_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    catalog_flux_err_jy: Mapped[float | None] = mapped_column(sa.Float)
    major_arcsec: Mapped[float | None] = mapped_column(sa.Float)
    minor_arcsec: Mapped[float | None] = mapped_column(sa.Float)
    is_reference: Mapped[bool] = mapped_column(default=False, index=True)


#: Columns of a light curve, in the order the API returns them; the light-curve
#: index carries them all (repositories.LIGHT_CURVE_COLUMNS is the same tuple).
LIGHT_CURVE_COLUMNS = (
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
)


class Photometry(Base):
    """One forced measurement of one source in one image."""

    __tablename__ = "photometry"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "image_id", name="uq_photometry_source_image"),
        # Light curves: a source's rows in time order, read from the index alone
        # (one contiguous index range, not one table page per epoch; a test checks).
        sa.Index("ix_photometry_source_mjd", "source_id", *LIGHT_CURVE_COLUMNS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A source's measurements go with it; an image cannot be deleted while
    # measurements made on it exist (delete them first, then recompute metrics).
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(
        sa.ForeignKey("images.id", ondelete="RESTRICT"), index=True
    )
    mjd: Mapped[float] = mapped_column(sa.Float)
    flux_jy: Mapped[float] = mapped_column(sa.Float)
    flux_err_jy: Mapped[float] = mapped_column(sa.Float)
    snr: Mapped[float | None] = mapped_column(sa.Float)
    local_rms_jy: Mapped[float | None] = mapped_column(sa.Float)
    norm_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    norm_flux_err_jy: Mapped[float | None] = mapped_column(sa.Float)
    chi2: Mapped[float | None] = mapped_column(sa.Float)
    is_upper_limit: Mapped[bool] = mapped_column(default=False)
    flags: Mapped[int] = mapped_column(default=0, doc="Bit mask, see photometry.flags")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    source: Mapped[Source] = relationship()
    image: Mapped[Image] = relationship()


class EpochNormalisation(Base):
    """The relative flux correction of one image (epoch)."""

    __tablename__ = "epoch_normalisations"

    image_id: Mapped[int] = mapped_column(
        sa.ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    factor: Mapped[float] = mapped_column(sa.Float)
    factor_err: Mapped[float] = mapped_column(sa.Float)
    n_references: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VariabilityMetrics(Base):
    """Per-source variability metrics, with the running sums that update them."""

    __tablename__ = "variability_metrics"
    # Filters and sorted lists by eta, V and epochs (source_id: the sort's tiebreak).
    __table_args__ = (
        sa.Index("ix_variability_metrics_eta", "eta", "source_id"),
        sa.Index("ix_variability_metrics_v", "v", "source_id"),
        sa.Index("ix_variability_metrics_n_epochs", "n_epochs", "source_id"),
    )

    source_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    n_epochs: Mapped[int] = mapped_column(default=0)
    first_mjd: Mapped[float | None] = mapped_column(sa.Float)
    last_mjd: Mapped[float | None] = mapped_column(sa.Float)
    mean_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    weighted_mean_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    std_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    v: Mapped[float | None] = mapped_column(sa.Float, doc="Modulation index std/mean")
    eta: Mapped[float | None] = mapped_column(sa.Float)
    chi2_nu: Mapped[float | None] = mapped_column(sa.Float)
    vs_max: Mapped[float | None] = mapped_column(sa.Float, doc="max |Vs| over epoch pairs")
    m2_max: Mapped[float | None] = mapped_column(sa.Float, doc="max |m2| over epoch pairs")
    sigma_deviation: Mapped[float | None] = mapped_column(sa.Float)
    # running sums (weights w = 1/err^2) and extremes for incremental updates
    sum_w: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_wf: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_wf2: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_f: Mapped[float] = mapped_column(sa.Float, default=0.0)
    sum_f2: Mapped[float] = mapped_column(sa.Float, default=0.0)
    min_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    min_flux_err_jy: Mapped[float | None] = mapped_column(sa.Float)
    max_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    max_flux_err_jy: Mapped[float | None] = mapped_column(sa.Float)
    # One epoch per transit (variability.metrics.TransitState): the columns above count the
    # current transit's sightings (the open epoch) as one closed epoch; the closed epochs'
    # sums and extremes and the open epoch's thermal sums are kept apart for the next image.
    epoch_days: Mapped[float | None] = mapped_column(
        sa.Float, doc="Epoch span the state was built with; NULL: before 0011, rebuild"
    )
    closed_sum_w: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    closed_sum_wf: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    closed_sum_wf2: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    closed_sum_f: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    closed_sum_f2: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    closed_min_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    closed_min_flux_err_jy: Mapped[float | None] = mapped_column(sa.Float)
    closed_max_flux_jy: Mapped[float | None] = mapped_column(sa.Float)
    closed_max_flux_err_jy: Mapped[float | None] = mapped_column(sa.Float)
    open_sightings: Mapped[int] = mapped_column(default=0, server_default="0")
    open_start_mjd: Mapped[float | None] = mapped_column(sa.Float)
    open_sum_w: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    open_sum_wf: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    source: Mapped[Source] = relationship()


class Candidate(_Timestamps, Base):
    """A variable, ESE or new-source candidate awaiting a human."""

    __tablename__ = "candidates"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "kind", name="uq_candidates_source_kind"),
        sa.Index("ix_candidates_status_score", "status", "score"),
        sa.Index("ix_candidates_score_id", "score", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("sources.id", ondelete="CASCADE"))
    kind: Mapped[CandidateKind] = mapped_column(_state(CandidateKind, "candidate_kind"))
    preset: Mapped[str | None] = mapped_column(sa.String(32))
    score: Mapped[float] = mapped_column(sa.Float)
    status: Mapped[CandidateStatus] = mapped_column(
        _state(CandidateStatus, "candidate_status"), default=CandidateStatus.NEW
    )
    details: Mapped[dict[str, Any] | None]
    note: Mapped[str | None] = mapped_column(sa.Text)
    reviewed_by: Mapped[str | None] = mapped_column(
        sa.String(64), doc="Who gave the last verdict (an API key's fingerprint or a user name)"
    )
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(doc="When the last verdict was given")

    source: Mapped[Source] = relationship()


class Annotation(Base):
    """One step of the vetting history of a candidate, a source or an image; never changed.

    ``kind``: ``verdict`` (``value`` confirmed, dismissed or needs_follow_up;
    ``text`` the reason), ``tag`` / ``untag`` (``value`` the tag), ``comment``
    (``text``), ``comment_edit`` (``text`` the new text of comment
    ``comment_id``; the earlier texts stay), ``rating`` (an image: ``value``
    good or bad, ``text`` the comment). ``author`` is ``user:<name>`` or an
    API key's fingerprint.
    """

    __tablename__ = "annotations"
    __table_args__ = (
        sa.Index("ix_annotations_target", "target_kind", "target_id", "id"),
        sa.Index("ix_annotations_kind_value", "target_kind", "kind", "value", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_kind: Mapped[AnnotationTarget] = mapped_column(
        _state(AnnotationTarget, "annotation_target")
    )
    target_id: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[AnnotationKind] = mapped_column(_state(AnnotationKind, "annotation_kind"))
    value: Mapped[str | None] = mapped_column(sa.String(64))
    text: Mapped[str | None] = mapped_column(sa.Text)
    comment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("annotations.id", ondelete="CASCADE"),
        doc="For a comment_edit: the comment edited",
    )
    author: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------
# Jobs, batches and their items
# --------------------------------------------------------------------------
class Job(Base):
    """One unit of work: a pipeline stage, or a batch of them (``job_type='batch'``)."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_status_created", "status", "created_at"),
        sa.Index("ix_jobs_created_id", "created_at", "id"),
        sa.UniqueConstraint("requested_by", "idempotency_key", name="uq_jobs_idempotency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    job_type: Mapped[str] = mapped_column(sa.String(32), index=True)
    status: Mapped[JobStatus] = mapped_column(
        _state(JobStatus, "job_status"), default=JobStatus.PENDING
    )
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("observation_groups.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    progress: Mapped[float | None] = mapped_column(sa.Float, doc="0..1")
    attempt: Mapped[int] = mapped_column(default=1)
    params: Mapped[dict[str, Any] | None]
    inputs: Mapped[dict[str, Any] | None] = mapped_column(doc="paths with sizes/mtimes/checksums")
    outputs: Mapped[dict[str, Any] | None]
    software_version: Mapped[str | None] = mapped_column(sa.String(64))
    host: Mapped[str | None] = mapped_column(sa.String(255))
    log_path: Mapped[str | None] = mapped_column(sa.String(1024))
    error: Mapped[str | None] = mapped_column(sa.Text)
    requested_by: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str | None] = mapped_column(
        sa.String(128), doc="The Idempotency-Key of the API request that created the batch"
    )
    request_digest: Mapped[str | None] = mapped_column(
        sa.String(64), doc="SHA-256 of that request (operation and body), to spot a reused key"
    )
    worker_pid: Mapped[int | None] = mapped_column(
        doc="Process id of the pipeline process running the job (on ``host``)"
    )
    child_pgid: Mapped[int | None] = mapped_column(
        doc="Process group of the external program (WSClean, CASA) the job runs now"
    )
    log_purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the job's log file (the row stays)"
    )

    parent: Mapped[Job | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Job]] = relationship(
        back_populates="parent", cascade="all, delete", passive_deletes=True
    )
    items: Mapped[list[BatchItem]] = relationship(
        back_populates="batch",
        foreign_keys="BatchItem.batch_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="BatchItem.position",
    )


class BatchItem(Base):
    """One item of a batch job: a group, MS or stage, with its own job when started."""

    __tablename__ = "batch_items"
    __table_args__ = (sa.UniqueConstraint("batch_id", "position", name="uq_batch_items_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    item_type: Mapped[str] = mapped_column(sa.String(32), doc="group, ms, image, stage")
    item_key: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[JobStatus] = mapped_column(
        _state(JobStatus, "batch_item_status"), default=JobStatus.PENDING
    )
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    batch: Mapped[Job] = relationship(back_populates="items", foreign_keys=[batch_id])
    job: Mapped[Job | None] = relationship(foreign_keys=[job_id])


class Event(Base):
    """An event published by a pipeline process for live subscribers (cross-process)."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_topic_id", "topic", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


# --------------------------------------------------------------------------
# Users and their sign-in sessions
# --------------------------------------------------------------------------
class User(Base):
    """A named person who signs in to the dashboard (API keys stay for scripts).

    ``password_hash`` is an argon2 hash (argon2-cffi's encoded form, salt and
    parameters included); the password itself is never stored.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[UserRole] = mapped_column(_state(UserRole, "user_role"))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)


class UserSession(Base):
    """One sign-in: the cookie's random token is kept only as its SHA-256 (``token_sha256``)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship()


# --------------------------------------------------------------------------
# Primary-beam models measured on the sky (issue 16)
# --------------------------------------------------------------------------
class BeamModelKind(enum.StrEnum):
    """How a :class:`BeamModel` gives the gain: a scaled Airy, or a tabulated radial profile."""

    AIRY = "airy"
    MEASURED = "measured"


class BeamModel(Base):
    """A version of the primary-beam model, fitted to forced / catalog flux ratios.

    ``kind`` ``airy``: the Airy power with its width times ``fwhm_scale``;
    ``measured``: the radial gains of ``profile`` (``radii_deg``, ``gains`` at
    ``ref_freq_hz``, radii scaling as 1/frequency), that Airy beyond them.
    Registered like a calibration table: a new version supersedes the current
    one (``superseded_by_id``); the pb correction uses the newest current
    model valid at an image's time when ``Settings.beam_model`` is
    ``measured``, and the image records it (``images.beam_model_id``).
    """

    __tablename__ = "beam_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    kind: Mapped[BeamModelKind] = mapped_column(_state(BeamModelKind, "beam_model_kind"))
    profile: Mapped[dict[str, Any]] = mapped_column(
        doc="radii_deg, gains, ref_freq_hz and the fit's numbers (JSON)"
    )
    fwhm_scale: Mapped[float] = mapped_column(sa.Float, doc="Fitted FWHM / the Airy FWHM")
    valid_from_mjd: Mapped[float] = mapped_column(sa.Float, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    superseded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("beam_models.id", ondelete="SET NULL"),
        doc="The newer version that replaced this one (null: current)",
    )
    note: Mapped[str | None] = mapped_column(sa.Text)
