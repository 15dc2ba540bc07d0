"""Variability metrics and candidates."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    Candidate,
    CandidateStatus,
    VariabilityMetrics,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.query import (
    _LISTS,
    Page,
    _between,
    _one,
    _page_of,
    _set_fields,
)
from dsa110_contimg.products.repositories.sources import get_source


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
    session: Session, candidate_id: int, status: CandidateStatus | str, note: str | None = None
) -> Candidate:
    """A human's verdict on a candidate: ``confirmed``, ``dismissed`` or back to ``new``."""
    candidate = get_candidate(session, candidate_id)
    candidate.status = CandidateStatus(status)
    if note is not None:
        candidate.note = note
    session.flush()
    payload = {"id": candidate.id, "status": str(candidate.status)}
    publish_event(session, "candidate", "status", payload)
    return candidate


def get_variability(session: Session, source_id: int) -> VariabilityMetrics:
    """The variability metrics of a source, or :class:`NotFoundError`."""
    get_source(session, source_id)
    stmt = sa.select(VariabilityMetrics).where(VariabilityMetrics.source_id == source_id)
    return _one(session, stmt, f"variability of source {source_id}")


def get_candidate(session: Session, candidate_id: int) -> Candidate:
    """The candidate with this id, or :class:`NotFoundError`."""
    stmt = sa.select(Candidate).where(Candidate.id == candidate_id)
    return _one(session, stmt, f"candidate {candidate_id}")


def list_candidates(
    session: Session,
    *,
    kind: str | None = None,
    status: str | None = None,
    score_min: float | None = None,
    source_id: int | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Variability, ESE and new-source candidates, by kind, status and score."""
    stmt = candidates_query(kind=kind, status=status, score_min=score_min, source_id=source_id)
    return _page_of(session, "candidates", Candidate, stmt, sort, limit, offset)


def candidates_query(
    *,
    kind: str | None = None,
    status: str | None = None,
    score_min: float | None = None,
    source_id: int | None = None,
) -> sa.Select[Any]:
    """The filtered ``select`` behind :func:`list_candidates` (also used by exports)."""
    stmt = _between(_LISTS[Candidate], Candidate.score, score_min, None)
    for column, value in (
        (Candidate.kind, kind),
        (Candidate.status, status),
        (Candidate.source_id, source_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt
