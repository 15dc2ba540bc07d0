"""The light-curve stage: fold one epoch's normalised fluxes into the products DB.

:func:`update_light_curves` is called by the photometry stage's write phase
(:func:`dsa110_contimg.photometry.store.write_measurement`) in the
transaction that inserts the epoch's ``Photometry`` rows, so a crash can
never count a measurement twice or lose it from the metrics. Every
statement goes through the repositories; the arithmetic is the pure
:mod:`~dsa110_contimg.variability.metrics` and
:mod:`~dsa110_contimg.variability.candidates`:

1. the ``VariabilityMetrics`` rows of the measured sources are read (missing
   ones created) and their running sums updated in O(1) per source, one
   epoch per transit: a sighting joins its source's open epoch (the
   current transit) or closes it and opens the next
   (:func:`~dsa110_contimg.variability.metrics.add_sightings`, with the
   preset's systematic error floor and ``epoch_days``). A source whose
   sighting is older than its latest one (a back-fill, a reprocessed
   image), or whose row was built otherwise (before migration 0011, another
   ``epoch_days``), is rebuilt from its stored light curve instead
   (:func:`recompute_metrics`), so the metrics always equal a recomputation
   from the whole light curve;
2. only the sources whose metrics now pass the preset have their light
   curves read back from ``Photometry`` (one indexed query per candidate:
   no all-pairs table, no scan of the whole history of the field);
3. each is classified (ESE or generic variable) and upserted as a
   ``Candidate`` row: a new row starts ``new``; an existing row keeps the
   status a human gave it, its score and details are refreshed (an
   unreviewed row changes kind when the classification does, see
   :func:`upsert_candidates`); an unreviewed candidate whose source's light
   curve was rewritten (a reprocess, a late or back-filled sighting) and no
   longer passes is withdrawn (:func:`refresh_candidates`), so a
   remeasurement (a new beam model, new tables) takes back what an error
   raised; one whose score merely fades under new sightings stays.

:func:`recompute_metrics` rebuilds some sources' metrics from their stored
light curves (repairs; the photometry stage's renormalisation of a field's
first epochs; out-of-order sightings); :func:`rebuild_stale_metrics` every
row built before epochs or with another ``epoch_days``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.repositories.variability import stale_metrics_ids
from dsa110_contimg.variability.candidates import Preset, evaluate_candidates, get_preset
from dsa110_contimg.variability.metrics import (
    EPOCH_DAYS,
    MetricsState,
    TransitState,
    add_sightings,
    usable,
)

log = logging.getLogger(__name__)


def normalised_light_curve(
    session: Session, source_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One source's normalised light curve (MJD, flux Jy, error Jy) in time order."""
    return repo.normalised_light_curve(session, source_id)


def update_light_curves(
    session: Session,
    source_ids: Sequence[int] | np.ndarray,
    fluxes: np.ndarray,
    errs: np.ndarray,
    mjd: float | np.ndarray,
    *,
    preset: str | Preset | None = None,
    epoch_days: float = EPOCH_DAYS,
) -> dict[str, Any]:
    """Add one image's normalised fluxes to the sources' metrics; flag candidates.

    The epoch's ``Photometry`` rows must already be in the session (the
    candidates' light curves are read from them). The caller owns the
    transaction.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session on the products DB.
    source_ids : array_like of int
        Distinct ``Source.id`` values, shape (N,).
    fluxes, errs : array_like
        Normalised flux densities and their errors, Jy, shape (N,).
        Non-finite fluxes and non-positive errors are skipped.
    mjd : float or array_like
        Observation time(s), MJD (UTC).
    preset : str or Preset, optional
        Candidate preset (default ``conservative``; the runner passes
        ``settings.variability_preset``).
    epoch_days : float
        Sightings within this many days of an epoch's first one are one
        epoch (default :data:`~dsa110_contimg.variability.metrics.EPOCH_DAYS`).

    Returns
    -------
    dict
        ``n_sources`` (rows touched), ``n_used`` (measurements added),
        ``n_rebuilt`` (sources rebuilt from their light curves),
        ``n_candidates`` (sources passing the preset), ``new_candidates``
        and ``updated_candidates`` (candidate ids).
    """
    ids = np.asarray(source_ids, np.int64)
    if np.unique(ids).size != ids.size:
        raise ValueError("update_light_curves: source ids must be distinct within one epoch")
    chosen = get_preset(preset)
    fluxes, errs = np.asarray(fluxes, float), np.asarray(errs, float)
    times = np.broadcast_to(np.asarray(mjd, float), ids.shape)
    rows = repo.lock_metrics_rows(session, ids)
    fresh = np.flatnonzero([not _built_otherwise(row, epoch_days) for row in rows])
    fresh_rows = [rows[i] for i in fresh]
    state = TransitState.from_records(fresh_rows, chosen.frac_floor, epoch_days)
    n = fresh.size
    _, late = add_sightings(state, np.arange(n), fluxes[fresh], errs[fresh], times[fresh])
    reported = state.write_records(fresh_rows)
    session.flush()
    # built otherwise (before 0011, another span), or a sighting older than the latest
    rebuild = np.union1d(np.setdiff1d(ids, ids[fresh]), ids[fresh[late]])
    if rebuild.size:  # the rows are refreshed in place (same objects)
        recompute_metrics(session, rebuild, preset=chosen, epoch_days=epoch_days)
        reported = MetricsState.from_records(rows)
    used = int(np.count_nonzero(usable(fluxes, errs)))
    repo.touch(session, "variability")
    # a passing score only fades with new sightings (a flare stays found); a
    # candidate goes only where the history itself was rewritten
    found = refresh_candidates(session, ids, reported, chosen, rewritten=rebuild)
    log.info(
        "light curves: %d sources, %d measurements (%d sources rebuilt), "
        "%d candidates (%d new, %d withdrawn) under preset %s",
        ids.size,
        used,
        rebuild.size,
        found.n_passing,
        len(found.new),
        len(found.withdrawn),
        chosen.name,
    )
    return {
        "n_sources": int(ids.size),
        "n_used": used,
        "n_rebuilt": int(rebuild.size),
        "n_candidates": found.n_passing,
        "new_candidates": found.new,
        "updated_candidates": found.updated,
        "withdrawn_candidates": found.withdrawn,
        "preset": chosen.name,
    }


@dataclass(frozen=True)
class CandidateChanges:
    """What one re-evaluation did to the candidates of some sources (ids)."""

    n_passing: int
    new: list[int]
    updated: list[int]
    withdrawn: list[int]


def refresh_candidates(
    session: Session,
    source_ids: Sequence[int] | np.ndarray,
    state: MetricsState | None = None,
    preset: str | Preset | None = None,
    *,
    rewritten: Sequence[int] | np.ndarray | None = None,
) -> CandidateChanges:
    """Re-evaluate the candidates of these sources from their current metrics.

    Sources that pass the preset get their candidate created or refreshed
    (:func:`upsert_candidates`). An unreviewed light-curve candidate of a
    ``rewritten`` source that no longer passes (its photometry was
    withdrawn or remeasured: a reprocess, a better beam, a rating) is
    withdrawn unless a person has looked at it
    (``repositories.withdraw_unvetted_candidates``); one whose score merely
    faded under later sightings stays.

    Parameters
    ----------
    source_ids : array_like of int
        Distinct ``Source.id`` values, shape (N,), in the order of ``state``.
    state : MetricsState, optional
        Their metrics (default: read from their ``VariabilityMetrics`` rows).
    preset : str or Preset, optional
        Default ``conservative``.
    rewritten : array_like of int, optional
        The sources whose light curves were rebuilt (default all).
    """
    ids = np.asarray(source_ids, np.int64)
    chosen = get_preset(preset)
    if state is None:
        state = MetricsState.from_records(repo.lock_metrics_rows(session, ids))
    records = evaluate_candidates(
        state, lambda i: normalised_light_curve(session, int(ids[i])), chosen
    )
    new, updated = upsert_candidates(session, ids, records)
    redone = ids if rewritten is None else np.asarray(rewritten, np.int64)
    withdrawn = repo.withdraw_unvetted_candidates(session, redone.tolist(), keep=new + updated)
    for cid in withdrawn:
        log.info("candidate %d withdrawn: its source no longer passes %s", cid, chosen.name)
    return CandidateChanges(len(records), new, updated, withdrawn)


def upsert_candidates(
    session: Session, ids: np.ndarray, records: list[Any]
) -> tuple[list[int], list[int]]:
    """Create or refresh ``Candidate`` rows; a human's status is never changed.

    A source has at most one light-curve candidate while nobody has looked at
    it: an unreviewed (``new``) ``variable`` row is re-kinded ``ese`` (or back)
    when the classification changes. Once reviewed, a change of kind opens a
    second row for the new kind.

    Returns
    -------
    new, updated : list of int
        Candidate ids created and refreshed (``repositories.register_candidate``
        publishes a ``candidate`` event for each: ``new`` or ``updated``).
    """
    new, updated = [], []
    for rec in records:
        source_id = int(ids[rec.index])
        existing = repo.light_curve_candidate(session, source_id, rec.kind)
        if existing is not None and existing.kind != rec.kind:
            log.info(
                "candidate %d (source %d): %s -> %s",
                existing.id,
                source_id,
                existing.kind,
                rec.kind,
            )
            repo.set_candidate_kind(session, existing, rec.kind)
        cand = repo.register_candidate(
            session,
            source_id=source_id,
            kind=rec.kind,
            score=rec.score,
            preset=rec.preset,
            details=rec.details,
        )
        (updated if existing is not None else new).append(int(cand.id))
        if existing is None:
            log.info(
                "new %s candidate %d: source %d, score %.2f",
                rec.kind,
                cand.id,
                source_id,
                rec.score,
            )
    return new, updated


def _built_otherwise(row: Any, epoch_days: float) -> bool:
    """Whether a metrics row holds epochs built another way (before 0011, another span)."""
    return bool(row.n_epochs) and row.epoch_days != epoch_days


def recompute_metrics(
    session: Session,
    source_ids: Sequence[int] | np.ndarray,
    *,
    preset: str | Preset | None = None,
    epoch_days: float = EPOCH_DAYS,
) -> int:
    """Rebuild the metrics of some sources from their stored normalised light curves.

    For repairs (a changed preset error floor), the few sources whose
    earlier epochs were just renormalised (the first epochs of a field,
    while the references' baselines settle), back-filled sources and
    sightings older than a source's latest; never called on a whole
    history. ``preset`` gives the error floor (default ``conservative``;
    pass ``settings.variability_preset``). Each source's last epoch is
    left open for the next sighting of its transit
    (:meth:`~dsa110_contimg.variability.metrics.TransitState.from_history`).

    Returns
    -------
    int
        Measurements read.
    """
    ids = np.unique(np.asarray(source_ids, np.int64))
    floor = get_preset(preset).frac_floor
    used = 0
    for part in repo.in_chunks(ids):
        part = np.asarray(part, np.int64)
        rows = repo.lock_metrics_rows(session, part)
        sid, flux, err, mjd = repo.normalised_points(session, part.tolist())
        index = np.searchsorted(part, sid)
        state = TransitState.from_history(part.size, index, flux, err, mjd, floor, epoch_days)
        state.write_records(rows)
        used += int(np.count_nonzero(usable(flux, err)))
    session.flush()
    return used


def rebuild_stale_metrics(
    session: Session,
    *,
    preset: str | Preset | None = None,
    epoch_days: float = EPOCH_DAYS,
    batch: int = 10_000,
) -> int:
    """Rebuild every metrics row built before epochs (migration 0011) or with another span.

    The light-curve stage rebuilds such a row when its source is next
    measured; this does them all now, ``batch`` sources at a time, in the
    caller's transaction (the caller commits).

    Returns
    -------
    int
        Sources rebuilt.
    """
    done = 0
    while ids := stale_metrics_ids(session, epoch_days, limit=batch):
        recompute_metrics(session, ids, preset=preset, epoch_days=epoch_days)
        done += len(ids)
        log.info("rebuilt the metrics of %d sources (one epoch per transit)", done)
    return done
