"""Primary-beam models measured on the sky, versioned (issue 16)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dsa110_contimg.products.models.base import Base, _state, utcnow


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
