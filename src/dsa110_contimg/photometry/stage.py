"""The photometry stage: measure one registered image and fold it into the products DB.

It runs in three phases, so that SQLite's write lock is held only while
writing (never while PyBDSF, forced photometry or a back-fill run):

* **read** (:func:`~dsa110_contimg.photometry.field.read_inputs`): one short
  session loads plain records: the image, catalog and registered sources in
  its cone, known variables, the possible references' first epochs, and the
  earlier measured images a back-fill may use;
* **compute** (:func:`compute_measurement`, no session): the pixels, forced
  photometry, PyBDSF blind search, back-fill measurements, references and
  the epoch's normalisation, pure functions over arrays;
* **write** (:func:`~dsa110_contimg.photometry.store.write_measurement`): one
  transaction through named repository functions registers the new
  sources, stores the photometry (back-filled and this image's), the
  normalisations, and updates the light-curve metrics and candidates.

:func:`measure_image` chains the three on a caller's session; the pipeline
step (:mod:`dsa110_contimg.pipeline.steps.photometry`) gives the read and the
write a session each. What each part does:

1. **Sources.** Catalog sources (every catalog of the store at
   ``settings.catalog_db`` except the calibrator list ``VLACAL``, or the
   ones named) in the usable field, i.e. on a finite pixel of the
   pb-corrected image (WSClean blanks below the primary-beam limit), are
   registered as ``Source`` rows by name; sources already in the DB in the
   field (earlier blind detections, other catalogs) are added. Entries of
   different catalogs within 10 arcsec are one source, kept from the
   preferred catalog (:mod:`~dsa110_contimg.catalog.merge`).
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
   write transaction: the measurement and its effect on the metrics commit
   together or not at all.

Idempotent: an image that already has photometry is skipped (nothing more
is read, nothing written; the write phase checks again). Positions with no usable pixel (flux NaN) get no row.
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
(:func:`~dsa110_contimg.photometry.store.renormalise_images`; bounded: only a field's first ~10 epochs).
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
from typing import Any

import numpy as np
from astropy.wcs import WCS
from sqlalchemy.orm import Session

from dsa110_contimg.catalog.merge import unique_by_position
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.beam import Beam, load_image
from dsa110_contimg.photometry.field import check_pb_image, field_radius_deg, read_inputs
from dsa110_contimg.photometry.forced import (
    DEFAULT_FORCED_OPTIONS,
    ForcedOptions,
    ForcedPhotometry,
    forced_photometry,
)
from dsa110_contimg.photometry.normalise import epoch_corrections
from dsa110_contimg.photometry.records import (
    BASELINE_EPOCHS,
    DEFAULT_RULES,
    MAX_REFERENCES,
    MIN_REFERENCE_SNR,
    MIN_REFERENCES,
    REFERENCE_RADIUS_DEG,
    REFERENCE_VETO,
    SKIP_CATALOGS,
    FieldInputs,
    FieldSources,
    ImageRecord,
    Measurement,
    ReferenceRules,
    py_value,
)
from dsa110_contimg.photometry.store import write_measurement
from dsa110_contimg.photometry.unclean import corrected_pb_image
from dsa110_contimg.products.repositories import angular_separation_deg

__all__ = [
    "BASELINE_EPOCHS",
    "MAX_REFERENCES",
    "MIN_REFERENCES",
    "MIN_REFERENCE_SNR",
    "REFERENCE_RADIUS_DEG",
    "REFERENCE_VETO",
    "SKIP_CATALOGS",
    "FieldSources",
    "ReferenceRules",
    "compute_measurement",
    "field_radius_deg",
    "measure_image",
    "on_usable_pixel",
    "read_pb_image",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------
def measure_image(
    session: Session,
    image: Any,
    settings: Settings,
    *,
    catalogs: list[str] | None = None,
    radius_deg: float | None = None,
    blind: bool = False,
    rules: ReferenceRules | None = None,
) -> dict[str, Any]:
    """Forced photometry, normalisation and light curves of one image, in the DB.

    Read, compute and write on one session (the caller's). Reads start no
    write transaction, so SQLite's write lock is taken only by the write
    phase, unless the caller has already written in this session; the
    pipeline step uses a session for the read and another for the write.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session on the products DB; the caller commits (one transaction
        for sources, photometry, normalisation, metrics and candidates).
    image : Image or ImageRecord
        A registered primary-beam-corrected image (``pbcor`` true or
        ``image_type`` ``"image-pb"``); ``image.path`` is its FITS file.
    settings : Settings
        ``catalog_db`` (the catalog store), the ``photometry`` and
        ``variability`` sections and ``variability_preset``.
    catalogs : list of str, optional
        Catalogs of the store to measure (default all but ``VLACAL``).
    radius_deg : float, optional
        Search radius around the image centre, degrees (default the image's
        half-diagonal); only positions on finite pixels are kept either way.
    blind : bool
        Also run PyBDSF and add unmatched detections as new sources (slow;
        default off).
    rules : ReferenceRules, optional
        Reference selection and normalisation thresholds (default
        ``settings.photometry.normalisation``).

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
    inputs = read_inputs(
        session,
        image,
        settings,
        catalogs=catalogs,
        radius_deg=radius_deg,
        blind=blind,
        rules=settings.photometry.rules() if rules is None else rules,
    )
    if inputs.n_measured:
        return skipped(inputs)
    measurement = compute_measurement(inputs, blind=blind, forced=settings.photometry.forced())
    return write_measurement(
        session,
        measurement,
        preset=settings.candidate_preset(),
        new_sources=settings.variability.new_source_options(),
    )


def skipped(inputs: FieldInputs) -> dict[str, Any]:
    """The summary of an image that already has its measurements."""
    image = inputs.image
    log.info(
        "image %d (%s) already has %d measurements: skipped",
        image.id,
        image.path,
        inputs.n_measured,
    )
    return {"image_id": image.id, "skipped": True, "n_measured": inputs.n_measured}


def compute_measurement(
    inputs: FieldInputs, *, blind: bool = False, forced: ForcedOptions = DEFAULT_FORCED_OPTIONS
) -> Measurement:
    """The compute phase: pixels, forced photometry, blind search, back-fill, normalisation.

    No session: everything it needs is in ``inputs`` (the read phase's), and
    the forced photometry's thresholds in ``forced`` (this image's and the
    back-fill's measurements).

    Raises
    ------
    InputDataError
        If the image file is unreadable or no source lies on its usable pixels.
    """
    image = inputs.image
    data, wcs, beam = read_pb_image(image)
    usable = np.isfinite(data)
    sources, new_catalog = field_sources(inputs, wcs, usable)
    new_blind: list[dict[str, Any]] = []
    if blind:
        sources, new_blind = add_blind_sources(image, sources, beam, wcs, usable)
    backfill = []
    if new_blind:
        from dsa110_contimg.photometry.backfill import backfill_measurements

        is_new = np.arange(sources.ids.size) >= sources.ids.size - len(new_blind)
        backfill = backfill_measurements(
            image,
            sources.subset(is_new),
            inputs.earlier,
            neighbours=sources.subset(~is_new),
            forced=forced,
        )
    if sources.ids.size == 0:
        raise InputDataError(
            f"image {image.id} ({image.path}): no catalog or known source on its usable pixels",
            hint=f"import a catalog covering RA {image.ra_deg:.3f}, Dec {image.dec_deg:.3f} "
            f"into {inputs.catalog_db} (`dsa110 catalog import`)",
        )
    result = forced_photometry(data, wcs, beam, sources.ra_deg, sources.dec_deg, **forced.kwargs())
    rules = inputs.rules
    refs = choose_references(image, sources, result, beam, inputs.variable_ids, rules)
    baseline, changed = np.zeros(0), set()
    factor, factor_err, n_used, normalised = 1.0, 0.0, 0, False
    if refs.size:
        baseline, changed = reference_baselines(
            inputs.history,
            sources.ids[refs],
            result.flux_jy[refs],
            image.mjd_obs,
            n_epochs=rules.baseline_epochs,
        )
        corr = epoch_corrections(
            result.flux_jy[refs],
            result.flux_err_jy[refs],
            baseline,
            min_references=rules.min_references,
            clip_sigma=rules.clip_sigma,
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
            rules.min_references,
        )
    return Measurement(
        image=image,
        sources=sources,
        new_catalog=new_catalog,
        new_blind=new_blind,
        result=result,
        references=refs,
        baseline=baseline,
        renormalise=changed,
        factor=factor,
        factor_err=factor_err,
        n_references=n_used,
        normalised=normalised,
        backfill=backfill,
        radius_deg=inputs.radius_deg,
        rules=rules,
    )


def read_pb_image(image: ImageRecord) -> tuple[np.ndarray, WCS, Beam]:
    """The image's pixels, WCS and beam, after checking it is a pb-corrected FITS file.

    When WSClean's residual, PSF and the primary beam lie beside it, the
    residual's uncleaned flux is brought to the restoring beam's scale
    (:func:`~dsa110_contimg.photometry.unclean.corrected_pb_image`).

    Raises
    ------
    InputDataError
        If the image is not primary-beam corrected, or its file is missing
        or unreadable.
    """
    check_pb_image(image)
    try:
        data, wcs, beam, _ = load_image(image.path)
        data, _ = corrected_pb_image(image.path, data, beam)
    except InputDataError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError... on a bad file
        raise InputDataError(f"image {image.id}: cannot read {image.path}: {exc}") from exc
    return data, wcs, beam


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
    inputs: FieldInputs, wcs: WCS, usable: np.ndarray
) -> tuple[FieldSources, dict[str, list[dict[str, Any]]]]:
    """Catalog and registered sources on the image's usable pixels.

    Registered ones come first in id order, then the catalog rows to
    register, in catalog order (the order their new ids will have).

    Returns
    -------
    sources : FieldSources
    new_catalog : dict
        Catalog label -> the records of its rows to register.
    """
    records: list[dict[str, Any]] = []
    new_catalog: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for label, found in inputs.cones.items():
        keep = on_usable_pixel(wcs, usable, found["ra_deg"], found["dec_deg"])
        rows = [r for r, k in zip(inputs.catalog_rows[label], keep, strict=True) if k]
        records += rows
        new = []
        for r in rows:
            if "id" not in r and r["name"] not in seen:
                seen.add(r["name"])
                new.append(r)
        if new:
            new_catalog[label] = new
    have = {r["id"] for r in records if "id" in r}
    records += [r for r in inputs.known if r["id"] not in have]
    registered = sorted({r["id"]: r for r in records if "id" in r}.values(), key=lambda r: r["id"])
    pending = [r for rows in new_catalog.values() for r in rows]
    registered, pending, new_catalog = merge_duplicates(registered, pending, new_catalog)
    sources = FieldSources.from_records(registered + pending)
    sources = sources.subset(on_usable_pixel(wcs, usable, sources.ra_deg, sources.dec_deg))
    log.info(
        "image %d: %d sources in the field (%d new)",
        inputs.image.id,
        sources.ids.size,
        len(pending),
    )
    return sources, new_catalog


def merge_duplicates(
    registered: list[dict[str, Any]],
    pending: list[dict[str, Any]],
    new_catalog: dict[str, list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """One source per position across catalogs (:mod:`~dsa110_contimg.catalog.merge`).

    A catalog entry within the matching radius of a preferred catalog's
    entry is the same source: it is neither registered nor measured (one
    registered earlier is no longer measured).
    """
    records = registered + pending
    if not records:
        return registered, pending, new_catalog
    keep = unique_by_position(
        [r["ra_deg"] for r in records],
        [r["dec_deg"] for r in records],
        [r.get("catalog") for r in records],
    )
    if keep.all():
        return registered, pending, new_catalog
    dropped = {r["name"] for r, k in zip(records, keep, strict=True) if not k}
    log.info("%d catalog entries duplicate another catalog's source: merged", len(dropped))
    new_catalog = {
        label: kept
        for label, rows in new_catalog.items()
        if (kept := [r for r in rows if r["name"] not in dropped])
    }
    return (
        [r for r in registered if r["name"] not in dropped],
        [r for r in pending if r["name"] not in dropped],
        new_catalog,
    )


def add_blind_sources(
    image: ImageRecord, sources: FieldSources, beam: Beam, wcs: WCS, usable: np.ndarray
) -> tuple[FieldSources, list[dict[str, Any]]]:
    """Find sources with PyBDSF; those far from every known one are added (to register)."""
    from dsa110_contimg.photometry.blind import find_sources, match_to_catalog, new_sources

    detections = find_sources(image.path)
    radius_arcsec = beam.bmaj_deg * 3600.0
    match = match_to_catalog(detections, (sources.ra_deg, sources.dec_deg), radius_arcsec)
    fresh = [
        _finite_fields(s)
        for s in new_sources(detections, match)
        if on_usable_pixel(wcs, usable, np.array([s["ra_deg"]]), np.array([s["dec_deg"]]))[0]
    ]
    log.info(
        "image %d: PyBDSF found %d sources, %d new (registered as blind)",
        image.id,
        len(detections),
        len(fresh),
    )
    if not fresh:
        return sources, []
    return sources.concat(FieldSources.from_records(fresh)), fresh


def _finite_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: py_value(v) if isinstance(v, float) else v for k, v in fields.items()}


# ---------------------------------------------------------------------------
# references and normalisation
# ---------------------------------------------------------------------------
def choose_references(
    image: ImageRecord,
    sources: FieldSources,
    result: ForcedPhotometry,
    beam: Beam,
    variable_ids: set[int],
    rules: ReferenceRules = DEFAULT_RULES,
) -> np.ndarray:
    """Indices (into ``sources``) of this image's references, best first."""
    sep = angular_separation_deg(sources.ra_deg, sources.dec_deg, image.ra_deg, image.dec_deg)
    with np.errstate(invalid="ignore", divide="ignore"):
        catalog_snr = sources.catalog_flux_jy / sources.catalog_flux_err_jy
        compact = ~(sources.major_arcsec > 0.5 * beam.bmaj_deg * 3600.0)
        bright = (catalog_snr >= rules.min_snr) | (result.snr >= rules.min_snr)
    clean = (result.flags & rules.veto) == 0
    steady = ~np.isin(sources.ids, sorted(variable_ids))
    eligible = sources.from_catalog & compact & steady & clean & bright
    ranking = np.where(np.isfinite(sources.catalog_flux_jy), sources.catalog_flux_jy, 0.0)
    chosen = np.flatnonzero(eligible & (sep <= rules.radius_deg))
    return chosen[np.argsort(-ranking[chosen], kind="stable")][: rules.max_references]


def reference_baselines(
    history: dict[int, list[tuple[float, float, int]]],
    ref_ids: np.ndarray,
    current_flux: np.ndarray,
    mjd: float,
    *,
    n_epochs: int = BASELINE_EPOCHS,
) -> tuple[np.ndarray, set[int]]:
    """Median of each reference's first ``n_epochs`` clean raw fluxes.

    Stored measurements (``history``, the read phase's) and this epoch's
    (not yet stored) are merged in time order, so this epoch counts when it
    is among the first ones.

    Returns
    -------
    baseline : numpy.ndarray
        Shape (n_references,), Jy.
    changed : set of int
        Earlier images normalised against baselines that this epoch changed
        (it is among the first epochs of one of their references).
    """
    baseline = np.empty(len(ref_ids))
    changed: set[int] = set()
    for k, sid in enumerate(ref_ids.tolist()):
        stored = history.get(sid, [])
        points = sorted([*stored, (mjd, float(current_flux[k]), -1)])[:n_epochs]
        baseline[k] = np.median([f for _, f, _ in points])
        if any(i == -1 for _, _, i in points):
            changed.update(i for _, _, i in points if i != -1)
    return baseline, changed
