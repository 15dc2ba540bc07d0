"""The primary beam on the sky: the measurements that show it, and its registered models.

:func:`beam_measurements` reads what a beam profile needs: the clean forced
measurements of steady catalog sources on current pb-corrected images, with
the source's catalog flux and the image's centre, frequency, time span and
beam model. The science (offsets, bins, fits) is
:mod:`dsa110_contimg.qa.beam_profile`, which never sees a session.

Beam models are versioned like calibration tables: :func:`register_beam_model`
adds the next version and marks the current ones it replaces
``superseded_by_id``; :func:`current_beam_model` is the newest current
version valid at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    BeamModel,
    BeamModelKind,
    Candidate,
    CandidateStatus,
    Image,
    ImageRating,
    Photometry,
    ProductStatus,
    Source,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import _one, columns_of

#: Catalogs whose fluxes are not an independent truth (blind detections).
NOT_A_CATALOG = ("blind",)

#: Columns of a beam measurement row, in order.
BEAM_MEASUREMENT_COLUMNS = (
    "image_id",
    "source_id",
    "flux_jy",
    "flux_err_jy",
    "snr",
    "catalog_flux_jy",
    "ra_deg",
    "dec_deg",
    "image_ra_deg",
    "image_dec_deg",
    "freq_hz",
    "integration_s",
    "pbcor",
    "beam_model_id",
    "mjd",
)


def beam_measurements(
    session: Session,
    *,
    since_mjd: float | None = None,
    until_mjd: float | None = None,
    min_snr: float = 10.0,
) -> list[dict[str, Any]]:
    """Forced measurements of steady catalog sources on current pb-corrected images.

    Kept: measurements with no flag (not blended, near an edge, blanked or an
    upper limit) and SNR at least ``min_snr``, of sources with a catalog flux
    from a survey (not blind) and no candidate left undismissed, on images of
    type ``image-pb`` with status ``ok`` not rated bad, observed in
    ``[since_mjd, until_mjd)``.

    Returns
    -------
    list of dict
        Keys :data:`BEAM_MEASUREMENT_COLUMNS` (``image_ra_deg``,
        ``image_dec_deg``: the image centre, i.e. the pointing at mid time).
    """
    suspects = sa.select(Candidate.source_id).where(Candidate.status != CandidateStatus.DISMISSED)
    stmt = (
        sa.select(
            Photometry.image_id,
            Photometry.source_id,
            Photometry.flux_jy,
            Photometry.flux_err_jy,
            Photometry.snr,
            Source.catalog_flux_jy,
            Source.ra_deg,
            Source.dec_deg,
            Image.ra_deg.label("image_ra_deg"),
            Image.dec_deg.label("image_dec_deg"),
            Image.freq_hz,
            Image.integration_s,
            Image.pbcor,
            Image.beam_model_id,
            Photometry.mjd,
        )
        .join(Source, Source.id == Photometry.source_id)
        .join(Image, Image.id == Photometry.image_id)
        .where(
            Photometry.flags == 0,
            Photometry.snr >= min_snr,
            Source.catalog_flux_jy > 0,
            sa.or_(Source.catalog.is_(None), Source.catalog.not_in(NOT_A_CATALOG)),
            Source.id.not_in(suspects),
            Image.image_type == "image-pb",
            Image.status == ProductStatus.OK,
            sa.or_(Image.rating.is_(None), Image.rating != ImageRating.BAD),
        )
        .order_by(Photometry.image_id, Photometry.source_id)
    )
    if since_mjd is not None:
        stmt = stmt.where(Image.mjd_obs >= since_mjd)
    if until_mjd is not None:
        stmt = stmt.where(Image.mjd_obs < until_mjd)
    return [dict(row._mapping) for row in session.execute(stmt)]


# --------------------------------------------------------------------------
# Registered models
# --------------------------------------------------------------------------
def register_beam_model(
    session: Session,
    *,
    kind: str,
    fwhm_scale: float,
    profile: dict[str, Any],
    valid_from_mjd: float,
    note: str | None = None,
) -> BeamModel:
    """Register the next version of the beam model; the current versions it replaces are superseded.

    A current version valid from ``valid_from_mjd`` or later is replaced (the
    new one covers its whole validity); an earlier one stays current for the
    times before.
    """
    version = int(session.scalar(sa.select(sa.func.max(BeamModel.version))) or 0) + 1
    model = BeamModel(
        version=version,
        kind=BeamModelKind(kind),
        fwhm_scale=float(fwhm_scale),
        profile=profile,
        valid_from_mjd=float(valid_from_mjd),
        note=note,
    )
    session.add(model)
    session.flush()
    replaced = session.scalars(
        sa.select(BeamModel).where(
            BeamModel.id != model.id,
            BeamModel.superseded_by_id.is_(None),
            BeamModel.valid_from_mjd >= model.valid_from_mjd,
        )
    ).all()
    for old in replaced:
        old.superseded_by_id = model.id
    session.flush()
    publish_event(
        session,
        "beam",
        "new",
        {"id": model.id, "version": version, "superseded": [old.id for old in replaced]},
    )
    return model


def current_beam_model(session: Session, *, at_mjd: float | None = None) -> BeamModel | None:
    """The newest current (not superseded) model valid at ``at_mjd`` (any time if None)."""
    stmt = sa.select(BeamModel).where(BeamModel.superseded_by_id.is_(None))
    if at_mjd is not None:
        stmt = stmt.where(BeamModel.valid_from_mjd <= at_mjd)
    return session.scalars(stmt.order_by(BeamModel.version.desc())).first()


def get_beam_model(session: Session, model_id: int) -> BeamModel:
    """The model with this id, or :class:`NotFoundError`."""
    return _one(
        session, sa.select(BeamModel).where(BeamModel.id == model_id), f"beam model {model_id}"
    )


def beam_models_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """The rows (as dictionaries) of the given model ids; None and unknown ids are skipped."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.scalars(sa.select(BeamModel).where(BeamModel.id.in_(wanted)))
    return {row.id: columns_of(row) for row in rows}


def list_beam_models(session: Session) -> list[dict[str, Any]]:
    """Every version, newest first, as dictionaries."""
    rows = session.scalars(sa.select(BeamModel).order_by(BeamModel.version.desc()))
    return [columns_of(row) for row in rows]


def images_corrected_with(session: Session, model_id: int) -> list[int]:
    """Ids of the images pb-corrected with a model."""
    stmt = sa.select(Image.id).where(Image.beam_model_id == model_id).order_by(Image.id)
    return list(session.scalars(stmt))
