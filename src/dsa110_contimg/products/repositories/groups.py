"""Observation groups and their raw subband files."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    FileStatus,
    GroupState,
    ObservationGroup,
    RawFile,
    utcnow,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.query import (
    MAX_BATCH_ITEMS,
    Filter,
    Listing,
    NotFoundError,
    _one,
    _set_fields,
    mjd_range,
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


#: Observation groups, filtered by state and start time.
GROUPS = Listing(
    "groups",
    ObservationGroup,
    (
        Filter("state", GroupState, ObservationGroup.state),
        *mjd_range(ObservationGroup.start_mjd, "start"),
    ),
)
list_groups = GROUPS.page


# --------------------------------------------------------------------------
# The ingest's reads and row locks (dsa110_contimg.ingest)
# --------------------------------------------------------------------------
def group_or_none(session: Session, group_id: str) -> ObservationGroup | None:
    """The group with this id, or None."""
    return session.get(ObservationGroup, group_id)


def nearest_group(session: Session, mjd: float, tolerance_days: float) -> ObservationGroup | None:
    """The group whose start lies nearest ``mjd`` and within ``tolerance_days`` (ties: by id)."""
    stmt = (
        sa.select(ObservationGroup)
        .where(ObservationGroup.start_mjd.between(mjd - tolerance_days, mjd + tolerance_days))
        .order_by(sa.func.abs(ObservationGroup.start_mjd - mjd), ObservationGroup.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def hold_group(session: Session, group_id: str, states: Sequence[GroupState]) -> bool:
    """Lock the group's row if its state is one of ``states``; False if it is not.

    A no-op conditional UPDATE: it takes the row (PostgreSQL) or the database
    (SQLite) for the rest of the transaction, so no other writer (the
    runner's claim) can change the group meanwhile.
    """
    result = session.execute(
        sa.update(ObservationGroup)
        .where(ObservationGroup.id == group_id, ObservationGroup.state.in_(states))
        .values(files_present=ObservationGroup.files_present)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def group_ids_in_state(session: Session, state: GroupState) -> list[str]:
    """Ids of the groups in ``state``, oldest start first."""
    stmt = (
        sa.select(ObservationGroup.id)
        .where(ObservationGroup.state == state)
        .order_by(ObservationGroup.start_mjd)
    )
    return list(session.scalars(stmt))


def group_state_counts(session: Session) -> dict[str, int]:
    """Number of groups in each state present, in the states' order."""
    rows = session.execute(
        sa.select(ObservationGroup.state, sa.func.count()).group_by(ObservationGroup.state)
    ).all()
    found = {str(state): n for state, n in rows}
    return {s.value: found[s.value] for s in GroupState if s.value in found}


def usable_raw_file(session: Session, group_id: str, subband: int) -> RawFile | None:
    """The group's recorded, not quarantined file of ``subband``, if any."""
    stmt = sa.select(RawFile).where(
        RawFile.group_id == group_id,
        RawFile.subband == subband,
        RawFile.status != FileStatus.QUARANTINED,
    )
    return session.scalars(stmt.limit(1)).first()


def usable_subbands(session: Session, group_id: str) -> set[int]:
    """Subbands of the group with a recorded, not quarantined file."""
    stmt = sa.select(RawFile.subband).where(
        RawFile.group_id == group_id, RawFile.status != FileStatus.QUARANTINED
    )
    return set(session.scalars(stmt))


def last_arrival(session: Session, group_id: str) -> dt.datetime | None:
    """When the group's newest file (quarantined ones included) was recorded, or None."""
    stmt = sa.select(sa.func.max(RawFile.created_at)).where(RawFile.group_id == group_id)
    return session.scalars(stmt).first()


def recorded_raw_paths(session: Session, paths: Sequence[str]) -> set[str]:
    """Those of ``paths`` that are recorded as raw files (pass a few hundred at a time)."""
    return set(session.scalars(sa.select(RawFile.path).where(RawFile.path.in_(paths))))


def raw_paths_under(session: Session, folder: str) -> set[str]:
    """Paths of the raw files recorded inside ``folder`` (at any depth)."""
    prefix = folder.rstrip(os.sep) + os.sep
    return set(session.scalars(sa.select(RawFile.path).where(RawFile.path.startswith(prefix))))


# --------------------------------------------------------------------------
# The pipeline's reads and writes (dsa110_contimg.pipeline)
# --------------------------------------------------------------------------
def usable_files_of_group(session: Session, group_id: str) -> list[RawFile]:
    """The group's recorded subband files still on disk (not quarantined or purged), by subband."""
    stmt = sa.select(RawFile).where(
        RawFile.group_id == group_id,
        RawFile.status.notin_([FileStatus.QUARANTINED, FileStatus.PURGED]),
    )
    return list(session.scalars(stmt.order_by(RawFile.subband)))


def mark_files_converted(session: Session, paths: Sequence[str]) -> None:
    """Record that these raw files went into a Measurement Set."""
    session.execute(
        sa.update(RawFile)
        .where(RawFile.path.in_(list(paths)))
        .values(status=FileStatus.CONVERTED, updated_at=utcnow())
    )
    touch(session, "raw", "converted")


def claim_group(session: Session, group_id: str, states: Sequence[GroupState]) -> bool:
    """Move the group to ``processing`` if its state is one of ``states``, atomically.

    One conditional UPDATE, so of two workers claiming the same group only
    one gets True.
    """
    result = session.execute(
        sa.update(ObservationGroup)
        .where(ObservationGroup.id == group_id, ObservationGroup.state.in_(states))
        .values(state=GroupState.PROCESSING, updated_at=utcnow())
    )
    if result.rowcount == 1:
        touch(session, "group", "claimed")
    return result.rowcount == 1


def set_group_state(
    session: Session, group_id: str, state: GroupState, error: str | None = None
) -> ObservationGroup:
    """Set a group's state and error (None clears it)."""
    group = session.get(ObservationGroup, group_id)
    group.state, group.error = state, error
    return group


def groups_by_id(session: Session, group_ids: Sequence[str]) -> list[ObservationGroup]:
    """The registered groups among ``group_ids`` (unknown ids are left out)."""
    stmt = sa.select(ObservationGroup).where(ObservationGroup.id.in_(list(group_ids)))
    return list(session.scalars(stmt))


def groups_processing(session: Session) -> list[ObservationGroup]:
    """The groups in state ``processing`` (after a crash: the interrupted ones)."""
    stmt = sa.select(ObservationGroup).where(ObservationGroup.state == GroupState.PROCESSING)
    return list(session.scalars(stmt))


def group_ids_to_run(
    session: Session,
    states: Sequence[str],
    *,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    group_ids: Sequence[str] | None = None,
) -> list[str]:
    """Ids of the groups in ``states``, starting in ``[start_mjd, end_mjd)`` (or among these ids), by start."""
    stmt = sa.select(ObservationGroup.id).where(ObservationGroup.state.in_(states))
    if start_mjd is not None:
        stmt = stmt.where(ObservationGroup.start_mjd >= start_mjd)
    if end_mjd is not None:
        stmt = stmt.where(ObservationGroup.start_mjd < end_mjd)
    if group_ids:
        stmt = stmt.where(ObservationGroup.id.in_(list(group_ids)))
    return list(session.scalars(stmt.order_by(ObservationGroup.start_mjd)))


def requeue_group(session: Session, group: ObservationGroup, reason: str | None) -> None:
    """Put a group back in the queue with ``reason`` as its error (None clears it); announce it."""
    group.state, group.updated_at, group.error = GroupState.QUEUED, utcnow(), reason
    publish_event(session, "group", "requeued", {"group_id": group.id, "reason": reason})


def add_group_note(group: ObservationGroup, text: str) -> None:
    """Append one line to a group's notes (its ``error`` column)."""
    group.error = f"{group.error}\n{text}" if group.error else text


def settle_group(
    session: Session, group: ObservationGroup, state: GroupState, now: dt.datetime
) -> None:
    """Move a collecting group to ``state`` (completed at ``now`` unless still collecting)."""
    group.state = state
    if state != GroupState.COLLECTING:
        group.completed_at = now
    session.flush()
    publish_event(session, "group", "updated", {"group_id": group.id, "state": str(state)})


def recount_group_files(session: Session, group: ObservationGroup) -> int:
    """Set and return the number of a group's usable subbands."""
    group.files_present = len(usable_subbands(session, group.id))
    session.flush()
    return group.files_present


def fill_group_dec(session: Session, group: ObservationGroup, dec_deg: float | None) -> None:
    """Record a group's pointing declination from its first file, if not yet known."""
    if group.dec_deg is None and dec_deg is not None:
        group.dec_deg = dec_deg
        session.flush()
