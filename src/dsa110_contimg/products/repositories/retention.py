"""The storage lifecycle's reads and writes (:mod:`dsa110_contimg.retention`).

Reads: which rows are old enough to lose their files (per product class),
and what must not be touched (what running or queued work uses, the
validity windows still needed by uncalibrated data). Writes: a purged
product keeps its row with status ``purged`` and the time; old events are
deleted (they are notices, not products).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    BatchItem,
    CalTable,
    CalTableStatus,
    Event,
    FileStatus,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    MSStage,
    ObservationGroup,
    ProductStatus,
    RawFile,
)
from dsa110_contimg.products.repositories.events import publish_event, touch

#: Group states whose files the pipeline will still read.
ACTIVE_GROUP_STATES = (
    GroupState.COLLECTING,
    GroupState.COMPLETE,
    GroupState.QUEUED,
    GroupState.PROCESSING,
)
#: MS stages still waiting for calibration tables.
UNCALIBRATED_STAGES = (MSStage.CONVERTED, MSStage.FLAGGED, MSStage.WAITING_CAL)
#: Cal table states the selection rule no longer picks.
RETIRED_TABLE_STATES = (CalTableStatus.EXPIRED, CalTableStatus.SUPERSEDED, CalTableStatus.REJECTED)
#: What a failure to write on a full disk says in a group's error: Python's ENOSPC
#: (and EDQUOT), and casacore's table writer, which reports ENOSPC as a write error
#: with a wrong errno text ("FiledesIO::write - write error in ...: No such file").
NO_SPACE_MARKS = (
    "No space left on device",
    "[Errno 28]",
    "Disk quota exceeded",
    "FiledesIO::write - write error",
)


@dataclass
class InUse:
    """What pending and running jobs (and groups still in the pipeline) use."""

    group_ids: set[str] = field(default_factory=set)
    ms_paths: set[str] = field(default_factory=set)
    image_ids: set[int] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)


def _strings(value: Any) -> Iterable[str]:
    """Every string (keys included) in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def in_use(session: Session) -> InUse:
    """Groups, MS, images and paths that pending or running work refers to.

    Counted: every group in a state the pipeline will still read
    (collecting, complete, queued, processing); the group, inputs and
    parameters of every pending or running job; the items of every pending or
    running batch (a group, an MS path, an image id, or a job whose group
    then counts).
    """
    used = InUse()
    used.group_ids |= set(
        session.scalars(
            sa.select(ObservationGroup.id).where(ObservationGroup.state.in_(ACTIVE_GROUP_STATES))
        )
    )
    open_states = (JobStatus.PENDING, JobStatus.RUNNING)
    jobs = session.execute(
        sa.select(Job.id, Job.group_id, Job.inputs, Job.params).where(Job.status.in_(open_states))
    ).all()
    for _, group_id, inputs, params in jobs:
        if group_id:
            used.group_ids.add(group_id)
        used.paths |= set(_strings(inputs)) | set(_strings(params))
    open_ids = [row[0] for row in jobs]
    if open_ids:
        items = session.execute(
            sa.select(BatchItem.item_type, BatchItem.item_key).where(
                BatchItem.batch_id.in_(open_ids)
            )
        ).all()
        rerun: list[str] = []
        for kind, key in items:
            if kind == "group":
                used.group_ids.add(key)
            elif kind == "ms":
                used.ms_paths.add(key)
            elif kind == "image" and key.isdigit():
                used.image_ids.add(int(key))
            elif kind == "job":
                rerun.append(key)
            used.paths.add(key)
        if rerun:
            used.group_ids |= {
                g
                for g in session.scalars(sa.select(Job.group_id).where(Job.run_id.in_(rerun)))
                if g
            }
    # An MS named by path belongs to its group too (a re-image reads the MS only,
    # but a reprocess of the group would rebuild it from the raw files).
    if used.ms_paths:
        used.group_ids |= {
            g
            for g in session.scalars(
                sa.select(MeasurementSet.group_id).where(MeasurementSet.path.in_(used.ms_paths))
            )
            if g
        }
    return used


def needed_cal_times(session: Session) -> list[float]:
    """MJDs that calibration tables may still be chosen for.

    The mid-times of every MS not yet calibrated, and the start of every group
    still in the pipeline: a table whose validity covers one of them is needed.
    """
    mids = session.scalars(
        sa.select(MeasurementSet.mjd_mid).where(
            MeasurementSet.stage.in_(UNCALIBRATED_STAGES),
            MeasurementSet.status == ProductStatus.OK,
        )
    )
    starts = session.scalars(
        sa.select(ObservationGroup.start_mjd).where(ObservationGroup.state.in_(ACTIVE_GROUP_STATES))
    )
    return sorted({*mids, *starts})


# --------------------------------------------------------------------------
# Candidates per product class (old enough; protections are the caller's)
# --------------------------------------------------------------------------
def raw_files_after_verified_ms(session: Session, before: dt.datetime) -> list[tuple[Any, ...]]:
    """Raw files of done groups whose MS was registered before ``before``.

    Rows ``(raw id, path, size_bytes, group_id, ms path, ms status)``: the
    caller checks the MS on disk (verified) before purging. Quarantined and
    purged files are not listed.
    """
    stmt = (
        sa.select(
            RawFile.id,
            RawFile.path,
            RawFile.size_bytes,
            RawFile.group_id,
            MeasurementSet.path,
            MeasurementSet.status,
        )
        .join(ObservationGroup, ObservationGroup.id == RawFile.group_id)
        .join(MeasurementSet, MeasurementSet.group_id == RawFile.group_id)
        .where(
            RawFile.status.in_((FileStatus.INDEXED, FileStatus.CONVERTED)),
            ObservationGroup.state == GroupState.DONE,
            MeasurementSet.status.in_((ProductStatus.OK, ProductStatus.PURGED)),
            MeasurementSet.created_at < before,
        )
        .order_by(RawFile.group_id, RawFile.subband)
    )
    return [tuple(r) for r in session.execute(stmt)]


def ms_calibrated_and_imaged(session: Session, before: dt.datetime) -> list[MeasurementSet]:
    """MS with status ``ok``, calibrated and imaged, registered before ``before``."""
    stmt = sa.select(MeasurementSet).where(
        MeasurementSet.status == ProductStatus.OK,
        MeasurementSet.stage == MSStage.IMAGED,
        MeasurementSet.cal_applied.is_(True),
        MeasurementSet.created_at < before,
    )
    return list(session.scalars(stmt.order_by(MeasurementSet.mjd_mid)))


def images_of_types(
    session: Session, image_types: Sequence[str], before: dt.datetime
) -> list[tuple[Image, str | None, str | None]]:
    """Unpurged images of these types made before ``before``, with their MS path and group."""
    stmt = (
        sa.select(Image, MeasurementSet.path, MeasurementSet.group_id)
        .outerjoin(MeasurementSet, MeasurementSet.id == Image.ms_id)
        .where(
            Image.image_type.in_(list(image_types)),
            Image.status != ProductStatus.PURGED,
            Image.created_at < before,
        )
        .order_by(Image.id)
    )
    return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def finished_job_logs(session: Session, before: dt.datetime) -> list[Job]:
    """Finished jobs whose log file is still recorded, finished before ``before``."""
    stmt = sa.select(Job).where(
        Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)),
        Job.finished_at < before,
        Job.log_path.is_not(None),
        Job.log_purged_at.is_(None),
    )
    return list(session.scalars(stmt.order_by(Job.id)))


def retired_cal_tables(session: Session, before: dt.datetime) -> list[CalTable]:
    """Expired, superseded or rejected tables registered before ``before``."""
    stmt = sa.select(CalTable).where(
        CalTable.status.in_(RETIRED_TABLE_STATES), CalTable.created_at < before
    )
    return list(session.scalars(stmt.order_by(CalTable.id)))


def count_events_before(session: Session, before: dt.datetime, *, heartbeats: bool) -> int:
    """How many events (worker heartbeats, or all others) were created before ``before``."""
    return int(
        session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(_events(before, heartbeats))
        )
        or 0
    )


def delete_events_before(session: Session, before: dt.datetime, *, heartbeats: bool) -> int:
    """Delete the events (worker heartbeats, or all others) created before ``before``."""
    result = session.execute(sa.delete(Event).where(_events(before, heartbeats)))
    return int(result.rowcount or 0)


def _events(before: dt.datetime, heartbeats: bool) -> Any:
    topic = Event.topic == "worker" if heartbeats else Event.topic != "worker"
    return sa.and_(Event.created_at < before, topic)


# --------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------
_PURGEABLE = {"raw": RawFile, "ms": MeasurementSet, "image": Image, "caltable": CalTable}


def mark_purged(session: Session, kind: str, ids: Sequence[int], when: dt.datetime) -> int:
    """Mark rows of one kind (``raw``, ``ms``, ``image``, ``caltable``) purged at ``when``."""
    if not ids:
        return 0
    model = _PURGEABLE[kind]
    status = {
        "raw": FileStatus.PURGED,
        "caltable": CalTableStatus.PURGED,
    }.get(kind, ProductStatus.PURGED)
    result = session.execute(
        sa.update(model)
        .where(model.id.in_(list(ids)))
        .values(status=status, purged_at=when, updated_at=when)
    )
    publish_event(session, kind, "purged", {"ids": list(ids)})
    return int(result.rowcount or 0)


def mark_logs_purged(session: Session, job_ids: Sequence[int], when: dt.datetime) -> int:
    """Record that these jobs' log files were removed."""
    if not job_ids:
        return 0
    result = session.execute(
        sa.update(Job).where(Job.id.in_(list(job_ids))).values(log_purged_at=when)
    )
    touch(session, "job")  # no event: the cached job pages must still change
    return int(result.rowcount or 0)


def groups_failed_for_space(session: Session) -> list[ObservationGroup]:
    """Failed groups whose error says the disk was full (``ENOSPC``)."""
    stmt = sa.select(ObservationGroup).where(
        ObservationGroup.state == GroupState.FAILED,
        sa.or_(*(ObservationGroup.error.contains(mark) for mark in NO_SPACE_MARKS)),
    )
    return list(session.scalars(stmt.order_by(ObservationGroup.start_mjd)))
