"""Measurement Sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    MeasurementSet,
    MSStage,
    ProductStatus,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    Filter,
    Listing,
    NotFoundError,
    _one,
    _set_fields,
    mjd_range,
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


#: Measurement Sets, filtered by stage, status, group, calibration and time.
MEASUREMENT_SETS = Listing(
    "ms",
    MeasurementSet,
    (
        Filter("stage", MSStage, MeasurementSet.stage),
        Filter("status", ProductStatus, MeasurementSet.status),
        Filter("group_id", str, MeasurementSet.group_id, max_length=32),
        Filter("cal_applied", bool, MeasurementSet.cal_applied),
        *mjd_range(MeasurementSet.mjd_mid, "mid-time"),
    ),
)
list_ms = MEASUREMENT_SETS.page


# --------------------------------------------------------------------------
# The pipeline steps' reads and writes (dsa110_contimg.pipeline.steps)
# --------------------------------------------------------------------------
def usable_ms_of_group(session: Session, group_id: str) -> MeasurementSet | None:
    """The group's registered MS with status ``ok``, if any (whether on disk is not checked)."""
    stmt = sa.select(MeasurementSet).where(
        MeasurementSet.group_id == group_id, MeasurementSet.status == ProductStatus.OK
    )
    return session.scalars(stmt).first()


def ms_or_none(session: Session, ms_id: int) -> MeasurementSet | None:
    """The MS with this id, or None."""
    return session.get(MeasurementSet, ms_id)


def record_flagging(session: Session, ms_id: int, fraction: float, qa: dict[str, Any]) -> None:
    """Record an MS's flagging: its flagged fraction, QA, and stage ``flagged``."""
    row = session.get(MeasurementSet, ms_id)
    row.flag_fraction, row.stage = fraction, MSStage.FLAGGED
    row.qa_metrics = {**(row.qa_metrics or {}), "flagging": qa}
