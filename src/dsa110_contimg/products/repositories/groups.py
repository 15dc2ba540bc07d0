"""Observation groups and their raw subband files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    GroupState,
    ObservationGroup,
    RawFile,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.query import (
    _LISTS,
    MAX_BATCH_ITEMS,
    NotFoundError,
    Page,
    _between,
    _one,
    _page_of,
    _set_fields,
)


def register_group(
    session: Session,
    *,
    group_id: str,
    start_time: dt.datetime,
    start_mjd: float,
    **fields: Any,
) -> ObservationGroup:
    """Create or update an observation group (the 16 subbands of one chunk)."""
    group = session.get(ObservationGroup, group_id)
    if group is None:
        group = ObservationGroup(id=group_id, start_time=start_time, start_mjd=start_mjd)
        session.add(group)
    _set_fields(group, fields)
    session.flush()
    publish_event(session, "group", "updated", {"group_id": group_id, "state": str(group.state)})
    return group


def register_raw_file(
    session: Session, *, path: str, subband: int, size_bytes: int, mtime: float, **fields: Any
) -> RawFile:
    """Record a UVH5 subband file seen in the incoming folder."""
    raw = RawFile(path=path, subband=subband, size_bytes=size_bytes, mtime=mtime)
    _set_fields(raw, fields)
    session.add(raw)
    session.flush()
    touch(session, "raw", "indexed")
    return raw


def groups_in_range(session: Session, mjd_start: float, mjd_end: float) -> list[str]:
    """Ids of the groups starting within [mjd_start, mjd_end], oldest first."""
    stmt = (
        sa.select(ObservationGroup.id)
        .where(ObservationGroup.start_mjd.between(mjd_start, mjd_end))
        .order_by(ObservationGroup.start_mjd)
        .limit(MAX_BATCH_ITEMS + 1)
    )
    return list(session.scalars(stmt))


def require_groups(session: Session, group_ids: Sequence[str]) -> None:
    """Raise :class:`NotFoundError` unless every group id is registered."""
    found = set(
        session.scalars(sa.select(ObservationGroup.id).where(ObservationGroup.id.in_(group_ids)))
    )
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise NotFoundError(f"unknown group(s): {', '.join(missing[:10])}")


def get_group(session: Session, group_id: str) -> ObservationGroup:
    """The group with this id, or :class:`NotFoundError`."""
    return _one(
        session, sa.select(ObservationGroup).where(ObservationGroup.id == group_id), "group"
    )


def files_of_group(session: Session, group_id: str) -> list[RawFile]:
    """The raw subband files of a group, by subband."""
    stmt = sa.select(RawFile).where(RawFile.group_id == group_id).order_by(RawFile.subband)
    return list(session.scalars(stmt))


def list_groups(
    session: Session,
    *,
    state: str | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Observation groups, filtered by state and start time."""
    stmt = _between(_LISTS[ObservationGroup], ObservationGroup.start_mjd, mjd_min, mjd_max)
    if state is not None:
        stmt = stmt.where(ObservationGroup.state == GroupState(state))
    return _page_of(session, "groups", ObservationGroup, stmt, sort, limit, offset)
