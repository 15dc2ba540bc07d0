"""The photometry stage's write phase: one transaction through the repositories.

:func:`write_measurement` stores what the compute phase found
(:class:`~dsa110_contimg.photometry.records.Measurement`), in this order
(events in brackets):

1. the new catalog sources, in bulk per catalog (``source``/``new`` once per
   catalog), and the blind detections (``source``/``new`` each); the
   measurement's placeholder ids become the registered ones;
2. the back-filled measurements of the blind sources in earlier images
   (``photometry``/``new`` per image), then those sources' metrics rebuilt
   from their stored light curves, and a ``new_source`` candidate for each
   with its earlier upper limits
   (:mod:`~dsa110_contimg.variability.new_sources`: ``candidate``/``new``);
3. the references flagged; the earlier images whose baselines this epoch
   moved renormalised (factor, ``norm_flux``: bulk updates) and their
   sources' metrics rebuilt; this epoch's ``EpochNormalisation``;
4. this image's ``Photometry`` rows (``photometry``/``new``) and the light
   curves and candidates
   (:func:`~dsa110_contimg.variability.stage.update_light_curves`:
   ``candidate`` events), without the measurements flagged
   :data:`~dsa110_contimg.photometry.flags.METRICS_VETO` (blended, near an
   edge: stored, shown, not in the metrics);
5. ``photometry``/``measured`` with the returned summary.

The metrics are read, updated and written back here, not in the compute
phase: their rows are locked (PostgreSQL) or the write lock is held
(SQLite) from read to write, so two images measuring the same source one
after the other never lose an update. That, and the renormalisation of a
young field's first epochs, are bulk statements over arrays: milliseconds,
no pixels.

An image measured by another worker since the read phase is skipped here.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from dsa110_contimg.photometry.flags import METRICS_VETO
from dsa110_contimg.photometry.forced import ForcedPhotometry
from dsa110_contimg.photometry.normalise import apply_correction, epoch_corrections
from dsa110_contimg.photometry.records import (
    DEFAULT_RULES,
    UNREGISTERED,
    Measurement,
    ReferenceRules,
    py_value,
)
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.variability.candidates import Preset
from dsa110_contimg.variability.new_sources import (
    DEFAULT_NEW_SOURCE_OPTIONS,
    NewSourceOptions,
    register_new_source_candidates,
)
from dsa110_contimg.variability.stage import recompute_metrics, update_light_curves

log = logging.getLogger(__name__)


def write_measurement(
    session: Session,
    measurement: Measurement,
    *,
    preset: str | Preset | None = None,
    new_sources: NewSourceOptions = DEFAULT_NEW_SOURCE_OPTIONS,
) -> dict[str, Any]:
    """Store one image's measurement; return the stage's summary.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session on the products DB; the caller commits.
    measurement : Measurement
        The compute phase's result (its placeholder source ids are replaced).
    preset : str or Preset, optional
        Variability preset: a name, or the record the pipeline builds from
        ``settings.variability`` (thresholds, error floor, ESE options).
    new_sources : NewSourceOptions
        Thresholds of the new-source candidates.

    Returns
    -------
    dict
        As :func:`~dsa110_contimg.photometry.stage.measure_image`.
    """
    m, image = measurement, measurement.image
    existing = repo.count_image_photometry(session, image.id)
    if existing:
        log.info(
            "image %d (%s): measured meanwhile (%d rows): skipped", image.id, image.path, existing
        )
        return {"image_id": image.id, "skipped": True, "n_measured": existing}
    n_new = register_sources(session, m)
    n_backfilled = store_backfill(session, m, preset=preset)
    new_source_candidates = register_new_source_candidates(session, m, new_sources)
    ref_ids = m.sources.ids[m.references]
    repo.mark_references(session, ref_ids.tolist())
    if m.renormalise:
        touched = renormalise_images(session, m.renormalise, ref_ids, m.baseline, m.rules)
        recompute_metrics(session, touched, preset=preset)
    repo.set_epoch_normalisation(
        session,
        image.id,
        factor=m.factor,
        factor_err=m.factor_err,
        n_references=m.n_references,
    )
    summary = store_photometry(session, m, preset=preset)
    summary.update(
        n_new_sources=n_new,
        n_blind=m.n_blind,
        n_backfilled=n_backfilled,
        new_source_candidates=new_source_candidates,
        radius_deg=m.radius_deg,
    )
    repo.publish_event(session, "photometry", "measured", summary)
    log.info(
        "image %d (%s): %d sources measured, %d new, factor %.4f +- %.4f from %d references",
        image.id,
        image.path,
        summary["n_measured"],
        n_new,
        m.factor,
        m.factor_err,
        m.n_references,
    )
    return summary


def register_sources(session: Session, m: Measurement) -> int:
    """Register the new catalog sources and blind detections; fill in their ids.

    Returns
    -------
    int
        Catalog sources created (blind ones are counted by ``n_blind``).
    """
    ids: dict[str, int] = {}
    n_new = 0
    for catalog, records in m.new_catalog.items():
        found, created = repo.add_catalog_sources(session, catalog, records)
        ids.update(found)
        n_new += created
    for fields in m.new_blind:
        ids[fields["name"]] = repo.register_source(session, **fields).id
    pending = m.sources.ids == UNREGISTERED
    m.sources.ids[pending] = [ids[name] for name in m.sources.names[pending]]
    return n_new


def store_backfill(session: Session, m: Measurement, *, preset: str | Preset | None = None) -> int:
    """Store the blind sources' back-filled measurements; rebuild their metrics."""
    if not m.n_blind:
        return 0
    new_ids = m.sources.ids[m.sources.ids.size - m.n_blind :]
    added = 0
    for rows in m.backfill:
        records = photometry_rows(
            new_ids[rows.index],
            rows.image.mjd_obs,
            rows.result,
            rows.norm_flux,
            rows.norm_err,
            rows.ok,
        )
        added += repo.add_photometry(session, rows.image.id, records)
    if added:
        recompute_metrics(session, new_ids, preset=preset)
    log.info(
        "image %d: %d new sources back-filled with %d measurements in earlier images",
        m.image.id,
        new_ids.size,
        added,
    )
    return added


def renormalise_images(
    session: Session,
    image_ids: set[int],
    ref_ids: np.ndarray,
    baseline: np.ndarray,
    rules: ReferenceRules = DEFAULT_RULES,
) -> np.ndarray:
    """Recompute earlier images' factors against the current baselines.

    While a field's references have fewer than ``rules.baseline_epochs`` epochs,
    each new epoch moves their baselines; the earlier epochs are then
    normalised again so that a light curve is never a mix of baselines.
    Bounded: only images among the references' first epochs. An image with
    fewer than ``rules.min_references`` of the references measured cleanly is left
    as it was.

    Returns
    -------
    numpy.ndarray
        Ids of the sources whose normalised fluxes changed.
    """
    touched: list[int] = []
    for image_id in sorted(image_ids):
        rows = repo.image_photometry(session, image_id)
        at = {int(s): k for k, s in enumerate(rows["source_id"])}
        use = [
            (k, at[int(r)])
            for k, r in enumerate(ref_ids)
            if int(r) in at and (int(rows["flags"][at[int(r)]]) & rules.veto) == 0
        ]
        if not use:
            continue
        ref_k, row_k = (np.array(c) for c in zip(*use, strict=True))
        flux, err = rows["flux_jy"], rows["flux_err_jy"]
        corr = epoch_corrections(
            flux[row_k],
            err[row_k],
            baseline[ref_k],
            min_references=rules.min_references,
            clip_sigma=rules.clip_sigma,
        )
        if not np.isfinite(corr.factor[0]):
            continue
        factor, factor_err = float(corr.factor[0]), float(corr.factor_err[0])
        repo.set_epoch_normalisation(
            session,
            image_id,
            factor=factor,
            factor_err=factor_err,
            n_references=int(corr.n_references[0]),
        )
        norm, norm_err = apply_correction(flux, err, factor, factor_err)
        repo.set_normalised_fluxes(session, rows["id"], norm, norm_err)
        touched += rows["source_id"].tolist()
        log.info("image %d renormalised: factor %.4f +- %.4f", image_id, factor, factor_err)
    return np.unique(np.asarray(touched, np.int64))


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
            "snr": py_value(result.snr[i]),
            "local_rms_jy": py_value(result.local_rms_jy[i]),
            "norm_flux_jy": float(norm_flux[i]),
            "norm_flux_err_jy": float(norm_err[i]),
            "chi2": py_value(result.chi2[i]),
            "is_upper_limit": bool(result.is_upper_limit[i]),
            "flags": int(result.flags[i]),
        }
        for i in idx
    ]


def store_photometry(
    session: Session, m: Measurement, *, preset: str | Preset | None = None
) -> dict[str, Any]:
    """Insert this image's photometry rows and update the light curves."""
    result, sources = m.result, m.sources
    ok = np.isfinite(result.flux_jy) & (result.flux_err_jy > 0)
    norm_flux, norm_err = apply_correction(
        result.flux_jy, result.flux_err_jy, m.factor, m.factor_err
    )
    idx = np.flatnonzero(ok)
    rows = photometry_rows(sources.ids, m.image.mjd_obs, result, norm_flux, norm_err, idx)
    n = repo.add_photometry(session, m.image.id, rows)
    clean = idx[(result.flags[idx] & METRICS_VETO) == 0]  # stored, but not in the metrics
    variability = update_light_curves(
        session,
        sources.ids[clean],
        norm_flux[clean],
        norm_err[clean],
        float(m.image.mjd_obs),
        preset=preset,
    )
    return {
        "image_id": m.image.id,
        "image_path": m.image.path,
        "skipped": False,
        "n_sources": int(sources.ids.size),
        "n_measured": n,
        "n_unmeasurable": int(sources.ids.size - n),
        "factor": m.factor,
        "factor_err": m.factor_err,
        "n_references": m.n_references,
        "normalised": m.normalised,
        "variability": variability,
    }
