"""The photometry stage: measure one registered image and fold it into the products DB.

:func:`measure_image` takes a primary-beam-corrected ``Image`` row and, in
the caller's transaction:

1. **Sources.** Catalog sources (every catalog of the store at
   ``settings.catalog_db`` except the calibrator list ``VLACAL``, or the
   ones named) in the usable field, i.e. on a finite pixel of the
   pb-corrected image (WSClean blanks below the primary-beam limit), are
   upserted as ``Source`` rows by name; sources already in the DB in the
   field (earlier blind detections, other catalogs) are added.
2. **Forced photometry** at all of them in one vectorised call
   (:func:`~dsa110_contimg.photometry.forced.forced_photometry`) on the image
   file, noise from its rms map.
3. **References**: up to :data:`MAX_REFERENCES` catalog sources within
   :data:`REFERENCE_RADIUS_DEG` of the image centre that are compact
   (catalog major axis unknown or below half the restoring beam), steady (no
   variable/ESE candidate that a human has not dismissed), cleanly measured
   here (no flag) and bright: catalog SNR (flux / flux error) >= 50, or,
   since survey errors include a calibration term that caps the catalog
   SNR (NVSS: 3%, so at most ~33), a measured SNR >= 50 in this image. They
   are ranked by catalog flux (a choice that does not change between
   epochs) and flagged ``Source.is_reference``.
4. **Normalisation** (:mod:`~dsa110_contimg.photometry.normalise`): each
   reference's baseline is the median of its first
   :data:`BASELINE_EPOCHS` clean raw fluxes in the DB, this epoch included
   when it is among them; the epoch's factor ``C`` is the clipped median of
   current / baseline, stored as ``EpochNormalisation``. With fewer than 3
   surviving references ``C = 1`` and ``factor_err = 0`` are stored and
   ``n_references < 3`` marks the epoch as not normalised.
5. **Photometry rows** (``norm_flux = flux / C``, errors propagated), then
   the light curves and candidates
   (:func:`~dsa110_contimg.variability.stage.update_light_curves`) in the
   same transaction: the measurement and its effect on the metrics commit
   together or not at all.

Idempotent: an image that already has photometry is skipped (nothing is
read or written). Positions with no usable pixel (flux NaN) get no row.
Events: ``photometry``/``new`` (from ``add_photometry``) and
``photometry``/``measured`` with the returned summary; ``source``/``new``
once per catalog batch of new sources; ``candidate`` events per candidate.

Names: a catalog source is ``Source.name`` = its catalog name, prefixed by
the catalog label when bare (NVSS ``J133108+303032`` -> ``NVSS
J133108+303032``; ``SIM J...`` kept), or the pipeline's
:func:`~dsa110_contimg.catalog.naming.format_name` with the catalog label
when the catalog gives none; ``catalog_id`` keeps the catalog's own name.

Settling baselines: until a reference has 10 epochs its baseline moves with
each new one, so an epoch that changes a baseline also renormalises the
earlier images among the references' first epochs (factor, ``norm_flux``)
and rebuilds the metrics of their sources from the stored light curves
(:func:`renormalise_images`; bounded: only a field's first ~10 epochs).
Without it the first epochs of a steady source would sit a few tenths of
the per-epoch scale error apart, many sigma for bright sources. An earlier
image is renormalised with the current image's references measured in it,
and left as it was when fewer than 3 of them are.

Blind finding (``blind=True``, off by default: PyBDSF takes seconds to
minutes per 2400 px image) adds detections more than one restoring beam
from every known source as new ``Source`` rows (catalog ``blind``, named by
:func:`~dsa110_contimg.catalog.naming.format_name`), measured here and in
every later image that covers them, and back-filled in the earlier
registered images that cover them and are still on disk
(:mod:`~dsa110_contimg.photometry.backfill`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from astropy.wcs import WCS
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsa110_contimg.catalog.naming import format_name
from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.beam import Beam, load_image
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import ForcedPhotometry, forced_photometry
from dsa110_contimg.photometry.normalise import apply_correction, epoch_corrections
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Candidate,
    CandidateStatus,
    EpochNormalisation,
    Image,
    Photometry,
    Source,
)
from dsa110_contimg.variability.stage import chunks, recompute_metrics, update_light_curves

log = logging.getLogger(__name__)

SKIP_CATALOGS = ("VLACAL",)
"""Catalogs of the store never measured by default (the calibrator list)."""
REFERENCE_RADIUS_DEG = 1.5
"""References lie within this distance of the image centre, degrees."""
MIN_REFERENCE_SNR = 50.0
"""Catalog or measured SNR a reference needs."""
MAX_REFERENCES = 20
"""Most references per image."""
MIN_REFERENCES = 3
"""Fewest references surviving the clipping for a valid factor."""
BASELINE_EPOCHS = 10
"""Epochs in a reference's baseline."""
REFERENCE_VETO = int(
    PhotFlag.NEAR_EDGE
    | PhotFlag.BLANKED
    | PhotFlag.BLENDED
    | PhotFlag.UPPER_LIMIT
    | PhotFlag.NO_DATA
    | PhotFlag.BAD_NOISE
    | PhotFlag.UNSTABLE_BLEND
)
"""Flags that disqualify a measurement as a reference or baseline point."""


@dataclass
class FieldSources:
    """The sources measured in one image (arrays of shape (N,))."""

    ids: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    catalog_flux_jy: np.ndarray
    catalog_flux_err_jy: np.ndarray
    major_arcsec: np.ndarray
    from_catalog: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[Source]) -> FieldSources:
        """Gather ``Source`` rows (ordered by id, no duplicates)."""
        rows = sorted({r.id: r for r in rows}.values(), key=lambda r: r.id)

        def column(name: str) -> np.ndarray:
            return np.array([_nan(getattr(r, name)) for r in rows], float)

        return cls(
            ids=np.array([r.id for r in rows], np.int64),
            ra_deg=column("ra_deg"),
            dec_deg=column("dec_deg"),
            catalog_flux_jy=column("catalog_flux_jy"),
            catalog_flux_err_jy=column("catalog_flux_err_jy"),
            major_arcsec=column("major_arcsec"),
            from_catalog=np.array([(r.catalog or "blind") != "blind" for r in rows], bool),
        )


def _nan(value: Any) -> float:
    return np.nan if value is None else float(value)


def _py(value: Any) -> Any:
    """numpy scalar -> Python value, NaN -> None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not np.isfinite(value) else value


# ---------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------
def measure_image(
    session: Session,
    image: Image,
    settings: Settings,
    *,
    catalogs: list[str] | None = None,
    radius_deg: float | None = None,
    blind: bool = False,
) -> dict[str, Any]:
    """Forced photometry, normalisation and light curves of one image, in the DB.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session on the products DB; the caller commits (one transaction
        for sources, photometry, normalisation, metrics and candidates).
    image : Image
        A registered primary-beam-corrected image (``pbcor`` true or
        ``image_type`` ``"image-pb"``); ``image.path`` is its FITS file.
    settings : Settings
        ``catalog_db`` (the catalog store) and ``variability_preset``.
    catalogs : list of str, optional
        Catalogs of the store to measure (default all but ``VLACAL``).
    radius_deg : float, optional
        Search radius around the image centre, degrees (default the image's
        half-diagonal); only positions on finite pixels are kept either way.
    blind : bool
        Also run PyBDSF and add unmatched detections as new sources (slow;
        default off).

    Returns
    -------
    dict
        JSON-serialisable summary: ``image_id``, ``skipped``, ``n_sources``,
        ``n_measured``, ``n_new_sources``, ``n_blind``, ``n_backfilled``
        (measurements of the new blind sources in earlier images), ``factor``,
        ``factor_err``, ``n_references``, ``normalised`` and the light-curve
        summary under ``variability``. A skipped image returns ``image_id``,
        ``skipped=True`` and ``n_measured`` (rows already there).

    Raises
    ------
    InputDataError
        If the image is not primary-beam corrected or its file is missing.
    """
    existing = _n_measured(session, image.id)
    if existing:
        log.info(
            "image %d (%s) already has %d measurements: skipped", image.id, image.path, existing
        )
        return {"image_id": image.id, "skipped": True, "n_measured": existing}
    data, wcs, beam = read_pb_image(image)
    usable = np.isfinite(data)
    radius = radius_deg if radius_deg is not None else field_radius_deg(image)
    sources, n_new = field_sources(session, image, settings, catalogs, radius, wcs, usable)
    n_blind = n_backfilled = 0
    if blind:
        sources, n_blind = add_blind_sources(session, image, sources, beam, wcs, usable)
    if n_blind:
        from dsa110_contimg.photometry.backfill import backfill_earlier_images

        fresh = _subset(sources, np.arange(sources.ids.size) >= sources.ids.size - n_blind)
        n_backfilled = backfill_earlier_images(
            session, image, fresh, preset=settings.variability_preset
        )
    if sources.ids.size == 0:
        raise InputDataError(
            f"image {image.id} ({image.path}): no catalog or known source on its usable pixels",
            hint=f"import a catalog covering RA {image.ra_deg:.3f}, Dec {image.dec_deg:.3f} "
            f"into {settings.catalog_db} (`dsa110 catalog import`)",
        )
    result = forced_photometry(data, wcs, beam, sources.ra_deg, sources.dec_deg)
    refs = choose_references(session, image, sources, result, beam)
    norm = normalise_epoch(
        session, image, sources, result, refs, preset=settings.variability_preset
    )
    summary = _store(session, image, sources, result, norm, settings)
    summary.update(
        n_new_sources=n_new, n_blind=n_blind, n_backfilled=n_backfilled, radius_deg=radius
    )
    repo.publish_event(session, "photometry", "measured", summary)
    log.info(
        "image %d (%s): %d sources measured, %d new, factor %.4f +- %.4f from %d references",
        image.id,
        image.path,
        summary["n_measured"],
        n_new,
        norm["factor"],
        norm["factor_err"],
        norm["n_references"],
    )
    return summary


def _n_measured(session: Session, image_id: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(Photometry).where(Photometry.image_id == image_id)
    return int(session.scalar(stmt) or 0)


def read_pb_image(image: Image) -> tuple[np.ndarray, WCS, Beam]:
    """The image's pixels, WCS and beam, after checking it is a pb-corrected FITS file.

    Raises
    ------
    InputDataError
        If the image is not primary-beam corrected, or its file is missing
        or unreadable.
    """
    if not (image.pbcor or image.image_type == "image-pb"):
        raise InputDataError(
            f"image {image.id} ({image.path}) is type {image.image_type!r}, "
            "not primary-beam corrected",
            hint="measure the -image-pb.fits product (pbcor=True)",
        )
    if not Path(image.path).is_file():
        raise InputDataError(f"image {image.id}: file {image.path} is missing")
    try:
        data, wcs, beam, _ = load_image(image.path)
    except InputDataError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError... on a bad file
        raise InputDataError(f"image {image.id}: cannot read {image.path}: {exc}") from exc
    return data, wcs, beam


def field_radius_deg(image: Image) -> float:
    """Half-diagonal of the image, degrees: a cone that holds every pixel."""
    return 0.5 * float(np.hypot(image.size_x, image.size_y)) * image.cell_arcsec / 3600.0


def on_usable_pixel(wcs: WCS, usable: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """True where a position falls on a finite (unblanked) pixel of the image."""
    if ra.size == 0:
        return np.zeros(0, bool)
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    ny, nx = usable.shape
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(x) & np.isfinite(y) & (x > -0.5) & (x < nx - 0.5)
        inside &= (y > -0.5) & (y < ny - 0.5)
    xi = np.clip(np.rint(np.nan_to_num(x)), 0, nx - 1).astype(np.int64)
    yi = np.clip(np.rint(np.nan_to_num(y)), 0, ny - 1).astype(np.int64)
    return inside & usable[yi, xi]


# ---------------------------------------------------------------------------
# sources of the field
# ---------------------------------------------------------------------------
def field_sources(
    session: Session,
    image: Image,
    settings: Settings,
    catalogs: list[str] | None,
    radius_deg: float,
    wcs: WCS,
    usable: np.ndarray,
) -> tuple[FieldSources, int]:
    """Catalog sources (upserted) and known DB sources on the image's usable pixels.

    Returns
    -------
    sources : FieldSources
    n_new : int
        ``Source`` rows created.
    """
    rows, n_new = [], 0
    for name, found in catalog_cones(settings, catalogs, image, radius_deg).items():
        found = found[on_usable_pixel(wcs, usable, found["ra_deg"], found["dec_deg"])]
        upserted, created = upsert_catalog_sources(session, name, found)
        rows += upserted
        n_new += created
    known = repo.cone_source_ids(session, image.ra_deg, image.dec_deg, radius_deg)
    have = {r.id for r in rows}
    extra = [i for i in known if i not in have]
    for part in chunks(extra):
        rows += session.scalars(sa.select(Source).where(Source.id.in_(part))).all()
    sources = FieldSources.from_rows(rows)
    keep = on_usable_pixel(wcs, usable, sources.ra_deg, sources.dec_deg)
    sources = _subset(sources, keep)
    log.info("image %d: %d sources in the field (%d new)", image.id, sources.ids.size, n_new)
    return sources, n_new


def _subset(sources: FieldSources, keep: np.ndarray) -> FieldSources:
    return FieldSources(**{k: v[keep] for k, v in vars(sources).items()})


def catalog_cones(
    settings: Settings, catalogs: list[str] | None, image: Image, radius_deg: float
) -> dict[str, np.ndarray]:
    """Cone search of each catalog around the image centre (empty if no store)."""
    path = Path(settings.catalog_db)
    if not path.is_file():
        log.warning(
            "image %d: no catalog store at %s; measuring known sources only", image.id, path
        )
        return {}
    with CatalogStore(path) as store:
        names = catalogs or [c for c in store.catalogs() if c not in SKIP_CATALOGS]
        return {name: store.cone(name, image.ra_deg, image.dec_deg, radius_deg) for name in names}


def catalog_source_name(catalog: str, row: np.void) -> str:
    """``Source.name`` of a catalog row: its own name (prefixed by the catalog when bare)."""
    name = str(row["name"]).strip()
    if not name:
        return format_name(float(row["ra_deg"]), float(row["dec_deg"]), prefix=catalog)
    return name if " " in name else f"{catalog} {name}"


def _source_fields(catalog: str, row: np.void) -> dict[str, Any]:
    return {
        "ra_deg": float(row["ra_deg"]) % 360.0,
        "dec_deg": float(row["dec_deg"]),
        "catalog": catalog,
        "catalog_id": str(row["name"]).strip() or str(int(row["id"])),
        "catalog_flux_jy": _py(row["flux_mjy"] * 1e-3),
        "catalog_flux_err_jy": _py(row["flux_err_mjy"] * 1e-3),
        "major_arcsec": _py(row["major_arcsec"]),
        "minor_arcsec": _py(row["minor_arcsec"]),
    }


def upsert_catalog_sources(
    session: Session, catalog: str, found: np.ndarray
) -> tuple[list[Source], int]:
    """``Source`` rows of catalog rows, by name; the missing ones created in bulk.

    One ``source`` event announces the batch (not one per source). If another
    worker created some of them meanwhile, the bulk insert is rolled back to
    its savepoint and the rows are registered one by one.
    """
    names = [catalog_source_name(catalog, row) for row in found]
    existing: dict[str, Source] = {}
    for part in chunks(range(len(names))):
        wanted = [names[i] for i in part]
        stmt = sa.select(Source).where(Source.name.in_(wanted))
        existing.update((s.name, s) for s in session.scalars(stmt))
    missing = [i for i, n in enumerate(names) if n not in existing]
    created = [Source(name=names[i], **_source_fields(catalog, found[i])) for i in missing]
    if created:
        try:
            with session.begin_nested():
                session.add_all(created)
        except IntegrityError:
            log.warning("catalog %s: sources created concurrently; registering one by one", catalog)
            created = [
                repo.register_source(session, name=names[i], **_source_fields(catalog, found[i]))
                for i in missing
            ]
        repo.publish_event(session, "source", "new", {"catalog": catalog, "count": len(created)})
    existing.update((s.name, s) for s in created)
    return [existing[n] for n in names], len(created)


def add_blind_sources(
    session: Session,
    image: Image,
    sources: FieldSources,
    beam: Beam,
    wcs: WCS,
    usable: np.ndarray,
) -> tuple[FieldSources, int]:
    """Find sources with PyBDSF; register those far from every known one, add them."""
    from dsa110_contimg.photometry.blind import find_sources, match_to_catalog, new_sources

    detections = find_sources(image.path)
    radius_arcsec = beam.bmaj_deg * 3600.0
    match = match_to_catalog(detections, (sources.ra_deg, sources.dec_deg), radius_arcsec)
    fresh = [
        s
        for s in new_sources(detections, match)
        if on_usable_pixel(wcs, usable, np.array([s["ra_deg"]]), np.array([s["dec_deg"]]))[0]
    ]
    rows = [repo.register_source(session, **_finite_fields(s)) for s in fresh]
    log.info(
        "image %d: PyBDSF found %d sources, %d new (registered as blind)",
        image.id,
        len(detections),
        len(rows),
    )
    if not rows:
        return sources, 0
    added = FieldSources.from_rows(rows)
    merged = FieldSources(
        **{k: np.concatenate([v, getattr(added, k)]) for k, v in vars(sources).items()}
    )
    return merged, len(rows)


def _finite_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: _py(v) if isinstance(v, float) else v for k, v in fields.items()}


# ---------------------------------------------------------------------------
# references and normalisation
# ---------------------------------------------------------------------------
def choose_references(
    session: Session,
    image: Image,
    sources: FieldSources,
    result: ForcedPhotometry,
    beam: Beam,
) -> np.ndarray:
    """Indices (into ``sources``) of this image's references; flags them in the DB."""
    sep = repo.angular_separation_deg(sources.ra_deg, sources.dec_deg, image.ra_deg, image.dec_deg)
    with np.errstate(invalid="ignore", divide="ignore"):
        catalog_snr = sources.catalog_flux_jy / sources.catalog_flux_err_jy
        compact = ~(sources.major_arcsec > 0.5 * beam.bmaj_deg * 3600.0)
        bright = (catalog_snr >= MIN_REFERENCE_SNR) | (result.snr >= MIN_REFERENCE_SNR)
    clean = (result.flags & REFERENCE_VETO) == 0
    steady = ~np.isin(sources.ids, _known_variables(session, sources.ids))
    eligible = sources.from_catalog & compact & steady & clean & bright
    ranking = np.where(np.isfinite(sources.catalog_flux_jy), sources.catalog_flux_jy, 0.0)
    chosen = np.flatnonzero(eligible & (sep <= REFERENCE_RADIUS_DEG))
    chosen = chosen[np.argsort(-ranking[chosen], kind="stable")][:MAX_REFERENCES]
    ids = sources.ids[chosen].tolist()
    for part in chunks(ids):
        session.execute(sa.update(Source).where(Source.id.in_(part)).values(is_reference=True))
    return chosen


def _known_variables(session: Session, ids: np.ndarray) -> list[int]:
    """Sources with a variable/ESE candidate that no human dismissed."""
    out: list[int] = []
    for part in chunks(ids):
        stmt = sa.select(Candidate.source_id).where(
            Candidate.source_id.in_(part), Candidate.status != CandidateStatus.DISMISSED
        )
        out += session.scalars(stmt).all()
    return out


def reference_baselines(
    session: Session, ref_ids: np.ndarray, current_flux: np.ndarray, mjd: float
) -> tuple[np.ndarray, set[int]]:
    """Median of each reference's first :data:`BASELINE_EPOCHS` clean raw fluxes.

    Stored measurements and this epoch's (not yet stored) are merged in time
    order, so this epoch counts when it is among the first ones.

    Returns
    -------
    baseline : numpy.ndarray
        Shape (n_references,), Jy.
    changed : set of int
        Earlier images normalised against baselines that this epoch changed
        (it is among the first epochs of one of their references).
    """
    rank = (
        sa.func.row_number()
        .over(partition_by=Photometry.source_id, order_by=(Photometry.mjd, Photometry.id))
        .label("rank")
    )
    history: dict[int, list[tuple[float, float, int]]] = {int(i): [] for i in ref_ids}
    for part in chunks(ref_ids):
        inner = (
            sa.select(
                Photometry.source_id, Photometry.mjd, Photometry.flux_jy, Photometry.image_id, rank
            )
            .where(Photometry.source_id.in_(part), Photometry.flags.op("&")(REFERENCE_VETO) == 0)
            .subquery()
        )
        stmt = sa.select(inner.c.source_id, inner.c.mjd, inner.c.flux_jy, inner.c.image_id).where(
            inner.c.rank <= BASELINE_EPOCHS
        )
        for sid, t, f, image_id in session.execute(stmt):
            history[int(sid)].append((float(t), float(f), int(image_id)))
    baseline = np.empty(len(ref_ids))
    changed: set[int] = set()
    for k, sid in enumerate(ref_ids.tolist()):
        points = sorted([*history[sid], (mjd, float(current_flux[k]), -1)])[:BASELINE_EPOCHS]
        baseline[k] = np.median([f for _, f, _ in points])
        if any(i == -1 for _, _, i in points):
            changed.update(i for _, _, i in points if i != -1)
    return baseline, changed


def renormalise_images(
    session: Session, image_ids: set[int], ref_ids: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """Recompute earlier images' factors against the current baselines.

    While a field's references have fewer than :data:`BASELINE_EPOCHS`
    epochs, each new epoch moves their baselines; the earlier epochs are
    then normalised again so that a light curve is never a mix of
    baselines. Bounded: only images among the references' first epochs.

    Returns
    -------
    numpy.ndarray
        Ids of the sources whose normalised fluxes changed.
    """
    touched: list[int] = []
    for image_id in sorted(image_ids):
        rows = session.execute(
            sa.select(
                Photometry.id,
                Photometry.source_id,
                Photometry.flux_jy,
                Photometry.flux_err_jy,
                Photometry.flags,
            ).where(Photometry.image_id == image_id)
        ).all()
        pid, sid, flux, err, flags = (np.asarray(c) for c in zip(*rows, strict=True))
        flux, err = flux.astype(float), err.astype(float)
        at = {int(s): k for k, s in enumerate(sid)}
        use = [
            (k, at[int(r)])
            for k, r in enumerate(ref_ids)
            if int(r) in at and (int(flags[at[int(r)]]) & REFERENCE_VETO) == 0
        ]
        if not use:
            continue
        ref_k, row_k = (np.array(c) for c in zip(*use, strict=True))
        corr = epoch_corrections(
            flux[row_k], err[row_k], baseline[ref_k], min_references=MIN_REFERENCES
        )
        if not np.isfinite(corr.factor[0]):
            continue
        factor, factor_err = float(corr.factor[0]), float(corr.factor_err[0])
        session.merge(
            EpochNormalisation(
                image_id=image_id,
                factor=factor,
                factor_err=factor_err,
                n_references=int(corr.n_references[0]),
            )
        )
        norm, norm_err = apply_correction(flux, err, factor, factor_err)
        session.execute(
            sa.update(Photometry),
            [
                {"id": int(p), "norm_flux_jy": float(f), "norm_flux_err_jy": float(e)}
                for p, f, e in zip(pid, norm, norm_err, strict=True)
            ],
        )
        touched += sid.tolist()
        log.info("image %d renormalised: factor %.4f +- %.4f", image_id, factor, factor_err)
    return np.unique(np.asarray(touched, np.int64))


def normalise_epoch(
    session: Session,
    image: Image,
    sources: FieldSources,
    result: ForcedPhotometry,
    refs: np.ndarray,
    *,
    preset: str | None = None,
) -> dict[str, Any]:
    """The epoch's correction factor from its references, stored as ``EpochNormalisation``.

    ``preset`` (the variability preset) sets the error floor of the metrics
    rebuilt for renormalised earlier epochs.
    """
    factor, factor_err, n_used, normalised = 1.0, 0.0, 0, False
    if refs.size:
        baseline, changed = reference_baselines(
            session, sources.ids[refs], result.flux_jy[refs], image.mjd_obs
        )
        if changed:
            touched = renormalise_images(session, changed, sources.ids[refs], baseline)
            recompute_metrics(session, touched, preset=preset)
        corr = epoch_corrections(
            result.flux_jy[refs], result.flux_err_jy[refs], baseline, min_references=MIN_REFERENCES
        )
        n_used = int(corr.n_references[0])
        normalised = bool(np.isfinite(corr.factor[0]))
        if normalised:
            factor, factor_err = float(corr.factor[0]), float(corr.factor_err[0])
    if not normalised:
        log.warning(
            "image %d (%s): %d of %d references usable (< %d): not normalised (factor 1)",
            image.id,
            image.path,
            n_used,
            refs.size,
            MIN_REFERENCES,
        )
    session.merge(
        EpochNormalisation(
            image_id=image.id, factor=factor, factor_err=factor_err, n_references=n_used
        )
    )
    return {
        "factor": factor,
        "factor_err": factor_err,
        "n_references": n_used,
        "normalised": bool(normalised),
        "reference_ids": sources.ids[refs].tolist(),
    }


# ---------------------------------------------------------------------------
# storing
# ---------------------------------------------------------------------------
def photometry_rows(
    source_ids: np.ndarray,
    mjd: float,
    result: ForcedPhotometry,
    norm_flux: np.ndarray,
    norm_err: np.ndarray,
    idx: np.ndarray,
) -> list[dict[str, Any]]:
    """``Photometry`` rows (for ``repositories.add_photometry``) of the measurements ``idx``."""
    return [
        {
            "source_id": int(source_ids[i]),
            "mjd": float(mjd),
            "flux_jy": float(result.flux_jy[i]),
            "flux_err_jy": float(result.flux_err_jy[i]),
            "snr": _py(result.snr[i]),
            "local_rms_jy": _py(result.local_rms_jy[i]),
            "norm_flux_jy": float(norm_flux[i]),
            "norm_flux_err_jy": float(norm_err[i]),
            "chi2": _py(result.chi2[i]),
            "is_upper_limit": bool(result.is_upper_limit[i]),
            "flags": int(result.flags[i]),
        }
        for i in idx
    ]


def _store(
    session: Session,
    image: Image,
    sources: FieldSources,
    result: ForcedPhotometry,
    norm: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """Insert the photometry rows and update the light curves (same transaction)."""
    ok = np.isfinite(result.flux_jy) & (result.flux_err_jy > 0)
    norm_flux, norm_err = apply_correction(
        result.flux_jy, result.flux_err_jy, norm["factor"], norm["factor_err"]
    )
    idx = np.flatnonzero(ok)
    rows = photometry_rows(sources.ids, image.mjd_obs, result, norm_flux, norm_err, idx)
    n = repo.add_photometry(session, image.id, rows)
    variability = update_light_curves(
        session,
        sources.ids[idx],
        norm_flux[idx],
        norm_err[idx],
        float(image.mjd_obs),
        preset=settings.variability_preset,
    )
    return {
        "image_id": image.id,
        "image_path": image.path,
        "skipped": False,
        "n_sources": int(sources.ids.size),
        "n_measured": n,
        "n_unmeasurable": int(sources.ids.size - n),
        **{k: v for k, v in norm.items() if k != "reference_ids"},
        "variability": variability,
    }
