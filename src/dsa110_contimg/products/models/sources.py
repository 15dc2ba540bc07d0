"""Sources, their photometry, epoch normalisation, variability, candidates, annotations."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsa110_contimg.products.models.base import Base, _state, _Timestamps, utcnow
from dsa110_contimg.products.models.states import (
    AnnotationKind,
    AnnotationTarget,
    CandidateKind,
    CandidateStatus,
)

if TYPE_CHECKING:  # relationship targets, resolved by the mapper registry at run time
    from dsa110_contimg.products.models.images import Image


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
