"""Images, mosaics and the tiles of a mosaic."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsa110_contimg.products.models.base import Base, _state, _Timestamps
from dsa110_contimg.products.models.states import ImageRating, ProductStatus, QAGrade

if TYPE_CHECKING:  # relationship targets, resolved by the mapper registry at run time
    from dsa110_contimg.products.models.calibration import MeasurementSet


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
