"""Variability metrics and candidates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.photometry.flags import METRICS_VETO
from dsa110_contimg.products.models import (
    AnnotationTarget,
    Candidate,
    CandidateKind,
    CandidateStatus,
    Photometry,
    VariabilityMetrics,
)
from dsa110_contimg.products.repositories.annotations import (
    BAD_IMAGE_IDS,
    record_verdict,
    tag_filter,
    unvetted_filter,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.query import (
    Filter,
    Listing,
    _one,
    _set_fields,
)
from dsa110_contimg.products.repositories.sources import get_source, in_chunks


def upsert_variability(session: Session, source_id: int, **metrics: Any) -> VariabilityMetrics:
    """Create or replace the variability metrics of a source."""
    row = session.get(VariabilityMetrics, source_id)
    if row is None:
        row = VariabilityMetrics(source_id=source_id)
        session.add(row)
    _set_fields(row, metrics)
    session.flush()
    touch(session, "variability")
    return row


def register_candidate(
    session: Session, *, source_id: int, kind: str, score: float, **fields: Any
) -> Candidate:
    """Create or update the candidate of one kind for a source (topic ``candidate``)."""
    stmt = sa.select(Candidate).where(Candidate.source_id == source_id, Candidate.kind == kind)
    candidate = session.scalars(stmt).first()
    is_new = candidate is None
    if candidate is None:
        candidate = Candidate(source_id=source_id, kind=kind, score=score)
        session.add(candidate)
    candidate.score = score
    _set_fields(candidate, fields)
    session.flush()
    payload = {"id": candidate.id, "source_id": source_id, "kind": str(kind), "score": score}
    publish_event(session, "candidate", "new" if is_new else "updated", payload)
    return candidate


def set_candidate_status(
    session: Session,
    candidate_id: int,
    status: CandidateStatus | str,
    note: str | None = None,
    *,
    by: str | None = None,
) -> Candidate:
    """A human's verdict on a candidate: ``confirmed``, ``dismissed`` or back to ``new``.

    ``by`` is who gave it (an API key's fingerprint or a user name, never a
    key), recorded with the time in ``reviewed_by`` and ``reviewed_at``.
    """
    get_candidate(session, candidate_id)
    # The verdict goes into the vetting history too (``annotations``), never overwritten there.
    record_verdict(session, "candidate", candidate_id, status, note, by=by or "unknown")
    return get_candidate(session, candidate_id)


def variability_or_none(session: Session, source_id: int) -> VariabilityMetrics | None:
    """The variability metrics of a source, or None before its first measurement."""
    return session.get(VariabilityMetrics, source_id)


def get_variability(session: Session, source_id: int) -> VariabilityMetrics:
    """The variability metrics of a source, or :class:`NotFoundError`."""
    get_source(session, source_id)
    stmt = sa.select(VariabilityMetrics).where(VariabilityMetrics.source_id == source_id)
    return _one(session, stmt, f"variability of source {source_id}")


def get_candidate(session: Session, candidate_id: int) -> Candidate:
    """The candidate with this id, or :class:`NotFoundError`."""
    stmt = sa.select(Candidate).where(Candidate.id == candidate_id)
    return _one(session, stmt, f"candidate {candidate_id}")


#: Variability, ESE and new-source candidates, by kind, status, score and source.
CANDIDATES = Listing(
    "candidates",
    Candidate,
    (
        Filter("kind", CandidateKind, Candidate.kind),
        Filter("status", CandidateStatus, Candidate.status),
        Filter("score_min", float, Candidate.score, op="ge", ge=-1e12, le=1e12),
        Filter("source_id", int, Candidate.source_id, ge=1, le=2**63 - 1),
        tag_filter(AnnotationTarget.CANDIDATE, Candidate.id),
        unvetted_filter(
            AnnotationTarget.CANDIDATE, Candidate.id, Candidate.reviewed_at.is_not(None)
        ),
    ),
)
list_candidates = CANDIDATES.page


# ---------------------------------------------------------------------------
# the light-curve stage's reads and writes
# ---------------------------------------------------------------------------
def known_variable_ids(session: Session, source_ids: Iterable[int]) -> list[int]:
    """Those of the sources with a candidate that no human dismissed."""
    out: list[int] = []
    for part in in_chunks(source_ids):
        stmt = sa.select(Candidate.source_id).where(
            Candidate.source_id.in_(part), Candidate.status != CandidateStatus.DISMISSED
        )
        out += session.scalars(stmt).all()
    return out


def lock_metrics_rows(session: Session, source_ids: np.ndarray) -> list[VariabilityMetrics]:
    """The metrics rows of the sources in the given order, creating the missing ones.

    The rows are locked (``FOR UPDATE`` on PostgreSQL, in id order so two
    workers cannot deadlock) until the transaction ends: two images measuring
    the same source at once are added one after the other, never lost.
    SQLite serialises writers by itself.
    """
    found: dict[int, VariabilityMetrics] = {}
    for part in in_chunks(np.sort(source_ids)):
        stmt = (
            sa.select(VariabilityMetrics)
            .where(VariabilityMetrics.source_id.in_(part))
            .order_by(VariabilityMetrics.source_id)
            .with_for_update()
            .execution_options(populate_existing=True)  # the values as locked, not cached
        )
        found.update((row.source_id, row) for row in session.scalars(stmt))
    rows = []
    for sid in np.asarray(source_ids).tolist():
        row = found.get(sid)
        if row is None:
            row = VariabilityMetrics(source_id=sid)
            session.add(row)
        rows.append(row)
    return rows


def stale_metrics_ids(session: Session, epoch_days: float, limit: int = 10_000) -> list[int]:
    """Sources whose metrics were built with another epoch span (or before epochs), in id order.

    Rows with no epoch yet are not stale. At most ``limit`` ids.
    """
    stmt = (
        sa.select(VariabilityMetrics.source_id)
        .where(
            VariabilityMetrics.n_epochs > 0,
            sa.or_(
                VariabilityMetrics.epoch_days.is_(None),
                VariabilityMetrics.epoch_days != epoch_days,
            ),
        )
        .order_by(VariabilityMetrics.source_id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def normalised_light_curve(
    session: Session, source_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One source's normalised light curve (MJD, flux Jy, error Jy) in time order."""
    stmt = (
        sa.select(Photometry.mjd, Photometry.norm_flux_jy, Photometry.norm_flux_err_jy)
        .where(
            Photometry.source_id == source_id,
            Photometry.norm_flux_jy.is_not(None),
            Photometry.norm_flux_err_jy > 0,
            Photometry.image_id.not_in(BAD_IMAGE_IDS),  # images rated bad are left out
            Photometry.flags.op("&")(int(METRICS_VETO)) == 0,  # blended, near an edge
        )
        .order_by(Photometry.mjd)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    mjd, flux, err = (np.asarray(col, float) for col in zip(*rows, strict=True))
    return mjd, flux, err


def normalised_points(
    session: Session, source_ids: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every normalised measurement of some sources (<= ``IN_CHUNK`` ids), in no order.

    Returns ``source_id`` (int), ``norm_flux_jy``, ``norm_flux_err_jy`` and
    ``mjd`` arrays (empty when there are none).
    """
    stmt = sa.select(
        Photometry.source_id,
        Photometry.norm_flux_jy,
        Photometry.norm_flux_err_jy,
        Photometry.mjd,
    ).where(
        Photometry.source_id.in_(source_ids),
        Photometry.norm_flux_jy.is_not(None),
        Photometry.image_id.not_in(BAD_IMAGE_IDS),  # images rated bad are left out
        Photometry.flags.op("&")(int(METRICS_VETO)) == 0,  # blended, near an edge
    )
    points = session.execute(stmt).all()
    if not points:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
    sid, flux, err, mjd = (np.asarray(c, float) for c in zip(*points, strict=True))
    return sid.astype(np.int64), flux, err, mjd


def light_curve_candidate(session: Session, source_id: int, kind: str) -> Candidate | None:
    """The source's candidate of this kind, else its unreviewed one of the other light-curve kind."""
    stmt = sa.select(Candidate).where(
        Candidate.source_id == source_id,
        Candidate.kind.in_([CandidateKind.VARIABLE, CandidateKind.ESE]),
    )
    rows = session.scalars(stmt).all()
    same = [c for c in rows if c.kind == kind]
    if same:
        return same[0]
    unreviewed = [c for c in rows if c.status == CandidateStatus.NEW]
    return unreviewed[0] if unreviewed else None


def set_candidate_kind(session: Session, candidate: Candidate, kind: str) -> None:
    """Re-kind an unreviewed light-curve candidate (``variable`` <-> ``ese``)."""
    candidate.kind = CandidateKind(kind)
    session.flush()
