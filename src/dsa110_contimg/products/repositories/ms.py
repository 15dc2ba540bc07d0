"""Measurement Sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    MeasurementSet,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    _LISTS,
    NotFoundError,
    Page,
    _between,
    _one,
    _page_of,
    _set_fields,
)


def register_ms(
    session: Session,
    *,
    path: str,
    mjd_start: float,
    mjd_mid: float,
    mjd_end: float,
    **fields: Any,
) -> MeasurementSet:
    """Create or update the record of a Measurement Set (keyed by its path)."""
    ms = session.scalars(sa.select(MeasurementSet).where(MeasurementSet.path == path)).first()
    if ms is None:
        ms = MeasurementSet(path=path, mjd_start=mjd_start, mjd_mid=mjd_mid, mjd_end=mjd_end)
        session.add(ms)
    else:
        ms.mjd_start, ms.mjd_mid, ms.mjd_end = mjd_start, mjd_mid, mjd_end
    _set_fields(ms, fields)
    session.flush()
    publish_event(session, "ms", "registered", {"id": ms.id, "path": path, "stage": str(ms.stage)})
    return ms


def require_ms_paths(session: Session, paths: Sequence[str]) -> None:
    """Raise :class:`NotFoundError` unless every MS path is registered."""
    found = set(
        session.scalars(sa.select(MeasurementSet.path).where(MeasurementSet.path.in_(paths)))
    )
    missing = [p for p in paths if p not in found]
    if missing:
        raise NotFoundError(f"unregistered MS path(s): {', '.join(missing[:10])}")


def get_ms(session: Session, path: str) -> MeasurementSet:
    """The MS registered at ``path``, or :class:`NotFoundError`."""
    stmt = sa.select(MeasurementSet).where(MeasurementSet.path == path)
    return _one(session, stmt, f"MS {path!r}")


def ms_of_group(session: Session, group_id: str) -> list[MeasurementSet]:
    """The Measurement Sets made from a group."""
    stmt = sa.select(MeasurementSet).where(MeasurementSet.group_id == group_id)
    return list(session.scalars(stmt.order_by(MeasurementSet.id)))


def list_ms(
    session: Session,
    *,
    stage: str | None = None,
    status: str | None = None,
    group_id: str | None = None,
    cal_applied: bool | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Measurement Sets, filtered by stage, status, group, calibration and time."""
    stmt = _between(_LISTS[MeasurementSet], MeasurementSet.mjd_mid, mjd_min, mjd_max)
    for column, value in (
        (MeasurementSet.stage, stage),
        (MeasurementSet.status, status),
        (MeasurementSet.group_id, group_id),
        (MeasurementSet.cal_applied, cal_applied),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return _page_of(session, "ms", MeasurementSet, stmt, sort, limit, offset)
