"""Calibration tables, their applications to Measurement Sets, and the MSs waiting for them.

Which table may calibrate which MS is decided once, by the pure rule of
:mod:`dsa110_contimg.calibration.select`; here is only its SQL pre-filter
(:func:`cal_table_candidates`: status, time, declination band), so that a
calibrate loads the few tables that could apply, not every table ever made.
Registering a table marks the older ones it covers ``superseded``;
:func:`expire_cal_tables` marks those long past their validity ``expired``.
Marked tables are kept and listed, never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.calibration.select import (
    DEC_SLACK_DEG,
    EXPIRY_GRACE_DAYS,
    MAX_DEC_OFFSET_DEG,
    expiry_cutoff_mjd,
    supersedes,
    why_unusable,
)
from dsa110_contimg.products.models import (
    CalApplication,
    CalTable,
    CalTableStatus,
    CalTableType,
    GroupState,
    MeasurementSet,
    MSStage,
    ObservationGroup,
    ProductStatus,
    utcnow,
)
from dsa110_contimg.products.repositories.events import publish_event, touch
from dsa110_contimg.products.repositories.jobs import get_job
from dsa110_contimg.products.repositories.ms import get_ms
from dsa110_contimg.products.repositories.query import (
    MJD_BOUNDS,
    Filter,
    Listing,
    _one,
    _set_fields,
)

#: How the note of an MS waiting for calibration begins (the reason follows).
WAITING_NOTE = "left uncalibrated"


def register_cal_table(
    session: Session,
    *,
    path: str,
    table_type: str,
    set_name: str,
    valid_start_mjd: float,
    valid_end_mjd: float,
    source_ms_path: str | None = None,
    **fields: Any,
) -> CalTable:
    """Register a calibration table, linked to the MS it was solved on when that is known."""
    table = CalTable(
        path=path,
        table_type=table_type,
        set_name=set_name,
        valid_start_mjd=valid_start_mjd,
        valid_end_mjd=valid_end_mjd,
        source_ms_path=source_ms_path,
    )
    if source_ms_path is not None:
        table.source_ms_id = session.scalar(
            sa.select(MeasurementSet.id).where(MeasurementSet.path == source_ms_path)
        )
    _set_fields(table, fields)
    session.add(table)
    session.flush()
    publish_event(session, "cal", "new", {"id": table.id, "path": path, "type": table_type})
    supersede_covered(session, table)
    if table.source_ms_id is not None:  # a re-solve: the versions reprocessing withdrew point here
        for old in session.scalars(
            sa.select(CalTable).where(
                CalTable.id != table.id,
                CalTable.source_ms_id == table.source_ms_id,
                CalTable.table_type == table.table_type,
                CalTable.status == CalTableStatus.SUPERSEDED,
                CalTable.superseded_by_id.is_(None),
            )
        ):
            old.superseded_by_id = table.id
    return table


def next_cal_table_path(session: Session, path: str | Path) -> str:
    """``path``, or ``<stem>.v<n><suffix>`` beside it when ``path`` is registered.

    A re-solve (``dsa110 reprocess --from calibrate`` of a calibrator group)
    writes new files: a registered table's file is never overwritten, so each
    row keeps describing the solutions it was registered with.
    """
    path = Path(path)
    taken = set(
        session.scalars(
            sa.select(CalTable.path).where(CalTable.path.like(f"{path.with_suffix('')}%"))
        )
    )
    if str(path) not in taken:
        return str(path)
    n = 2
    while (candidate := f"{path.with_suffix('')}.v{n}{path.suffix}") in taken:
        n += 1
    return candidate


def withdraw_tables_of_ms(session: Session, ms_id: int) -> list[int]:
    """Mark ``superseded`` the valid tables solved on an MS (its calibration is redone); ids."""
    tables = session.scalars(
        sa.select(CalTable).where(
            CalTable.source_ms_id == ms_id, CalTable.status == CalTableStatus.VALID
        )
    ).all()
    for table in tables:
        table.status = CalTableStatus.SUPERSEDED
    if tables:
        publish_event(session, "cal", "superseded", {"by": None, "ids": [t.id for t in tables]})
    return [t.id for t in tables]


def supersede_covered(session: Session, table: CalTable) -> list[CalTable]:
    """Mark ``superseded`` the valid tables that ``table`` covers (same type and strip); them.

    The rule is :func:`~dsa110_contimg.calibration.select.supersedes`; each
    marked table records ``table`` as what superseded it.
    """
    if table.status != CalTableStatus.VALID or table.dec_deg is None:
        return []
    band = MAX_DEC_OFFSET_DEG + DEC_SLACK_DEG
    older = session.scalars(
        sa.select(CalTable).where(
            CalTable.id != table.id,
            CalTable.table_type == table.table_type,
            CalTable.status == CalTableStatus.VALID,
            CalTable.valid_start_mjd >= table.valid_start_mjd,
            CalTable.valid_end_mjd <= table.valid_end_mjd,
            CalTable.dec_deg.between(table.dec_deg - band, table.dec_deg + band),
        )
    ).all()
    marked = [old for old in older if supersedes(table, old)]
    for old in marked:
        old.status, old.superseded_by_id = CalTableStatus.SUPERSEDED, table.id
    if marked:
        publish_event(
            session, "cal", "superseded", {"by": table.id, "ids": [old.id for old in marked]}
        )
    return marked


def expire_cal_tables(session: Session, *, grace_days: float = EXPIRY_GRACE_DAYS) -> int:
    """Mark ``expired`` the valid tables no group can still need; how many.

    A table expires when its validity ended more than ``grace_days`` before
    the newest group, and before every group that may still be calibrated
    (not yet done or failed, or whose MS waits for calibration): indexing an
    archive registers its newest groups first, and those must not expire the
    tables its older groups are waiting to use. Nothing expires without groups.
    """
    newest = session.scalar(sa.select(sa.func.max(ObservationGroup.start_mjd)))
    if newest is None:
        return 0
    unfinished = session.scalar(
        sa.select(sa.func.min(ObservationGroup.start_mjd)).where(
            ObservationGroup.state.not_in([GroupState.DONE, GroupState.FAILED])
        )
    )
    waiting = session.scalar(
        sa.select(sa.func.min(MeasurementSet.mjd_start)).where(
            MeasurementSet.stage == MSStage.WAITING_CAL
        )
    )
    reference = min(m for m in (newest, unfinished, waiting) if m is not None)
    result = session.execute(
        sa.update(CalTable)
        .where(
            CalTable.status == CalTableStatus.VALID,
            CalTable.valid_end_mjd < expiry_cutoff_mjd(reference, grace_days),
        )
        .values(status=CalTableStatus.EXPIRED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        publish_event(session, "cal", "expired", {"count": result.rowcount})
    return result.rowcount


def cal_table_candidates(
    session: Session,
    mjd: float,
    dec_deg: float | None,
    *,
    table_types: Sequence[str] | None = None,
) -> list[CalTable]:
    """The tables that could calibrate an MS at ``mjd`` and ``dec_deg``: the rule's SQL pre-filter.

    Valid, valid at ``mjd``, of known declination within the strip tolerance
    (a superset of what :func:`~dsa110_contimg.calibration.select.select_tables`
    accepts; it makes the final choice). Newest validity first. None when the
    MS's declination is unknown.
    """
    if dec_deg is None:
        return []
    band = MAX_DEC_OFFSET_DEG + 2 * DEC_SLACK_DEG
    stmt = sa.select(CalTable).where(
        CalTable.status == CalTableStatus.VALID,
        CalTable.valid_start_mjd <= mjd,
        CalTable.valid_end_mjd >= mjd,
        CalTable.dec_deg.between(dec_deg - band, dec_deg + band),
    )
    if table_types is not None:
        stmt = stmt.where(CalTable.table_type.in_(list(table_types)))
    return list(session.scalars(stmt.order_by(CalTable.valid_start_mjd.desc(), CalTable.id)))


def nearest_other_strip_table(
    session: Session, mjd: float, dec_deg: float | None
) -> CalTable | None:
    """The valid table at ``mjd`` nearest in declination among those of other strips, if any.

    Only to say why an MS waits (e.g. just after the array moved strips).
    """
    if dec_deg is None:
        return None
    band = MAX_DEC_OFFSET_DEG + 2 * DEC_SLACK_DEG
    return session.scalars(
        sa.select(CalTable)
        .where(
            CalTable.status == CalTableStatus.VALID,
            CalTable.valid_start_mjd <= mjd,
            CalTable.valid_end_mjd >= mjd,
            sa.not_(CalTable.dec_deg.between(dec_deg - band, dec_deg + band)),
        )
        .order_by(sa.func.abs(CalTable.dec_deg - dec_deg), CalTable.id)
        .limit(1)
    ).first()


def record_cal_application(
    session: Session, *, ms_path: str, cal_path: str, job_run_id: str | None = None
) -> CalApplication:
    """Record that the table at ``cal_path`` was applied to the MS at ``ms_path``.

    Applied again (a reprocess from calibration), the row gets the new time and job.
    """
    ms = get_ms(session, ms_path)
    table = get_cal_table(session, cal_path)
    job_id = get_job(session, job_run_id).id if job_run_id else None
    application = session.scalars(
        sa.select(CalApplication).where(
            CalApplication.ms_id == ms.id, CalApplication.cal_table_id == table.id
        )
    ).first()
    if application is None:
        application = CalApplication(ms_id=ms.id, cal_table_id=table.id, job_id=job_id)
        session.add(application)
    else:
        application.job_id, application.applied_at = job_id, utcnow()
    ms.cal_applied = True
    session.flush()
    touch(session, "ms")  # the MS's calibration state changed: cached reads are stale
    return application


def record_calibration(
    session: Session, *, ms_path: str, cal_paths: Sequence[str], job_run_id: str | None = None
) -> MeasurementSet:
    """Record that the tables at ``cal_paths`` were applied to an MS: it is calibrated.

    An MS that was waiting for calibration stops waiting (its note goes).
    """
    for path in cal_paths:
        record_cal_application(session, ms_path=ms_path, cal_path=path, job_run_id=job_run_id)
    ms = get_ms(session, ms_path)
    if ms.stage is MSStage.WAITING_CAL:
        ms.note = None
    ms.stage = MSStage.CALIBRATED
    return ms


def mark_waiting_for_calibration(session: Session, ms_id: int, reason: str) -> MeasurementSet:
    """Set the MS's stage to ``waiting_cal``, with ``reason`` in its note."""
    ms = session.get(MeasurementSet, ms_id)
    ms.stage, ms.note = MSStage.WAITING_CAL, f"{WAITING_NOTE}: {reason}"
    return ms


def record_calibrator(session: Session, ms_id: int, name: str) -> None:
    """Record the calibrator that transits the MS (its tables were solved on it)."""
    session.get(MeasurementSet, ms_id).calibrator = name


def waiting_for_calibration(session: Session) -> list[tuple[ObservationGroup, MeasurementSet]]:
    """Finished groups whose MS waits for calibration (stage ``waiting_cal``), in time order."""
    rows = session.execute(
        sa.select(ObservationGroup, MeasurementSet)
        .join(MeasurementSet, MeasurementSet.group_id == ObservationGroup.id)
        .where(
            ObservationGroup.state.in_([GroupState.FAILED, GroupState.DONE]),
            MeasurementSet.status == ProductStatus.OK,
            MeasurementSet.stage == MSStage.WAITING_CAL,
        )
        .order_by(ObservationGroup.start_mjd)
    ).all()
    return [(group, ms) for group, ms in rows]


def get_cal_table(session: Session, path: str) -> CalTable:
    """The calibration table registered at ``path``, or :class:`NotFoundError`."""
    return _one(session, sa.select(CalTable).where(CalTable.path == path), f"cal table {path!r}")


def cal_applied_to(session: Session, ms_id: int) -> list[CalTable]:
    """The calibration tables applied to one MS."""
    stmt = (
        sa.select(CalTable)
        .join(CalApplication, CalApplication.cal_table_id == CalTable.id)
        .where(CalApplication.ms_id == ms_id)
        .order_by(CalTable.id)
    )
    return list(session.scalars(stmt))


def calibrator_matches(session: Session, ms: MeasurementSet) -> list[CalTable]:
    """The tables the selection rule accepts for the MS (any type), newest validity first.

    The calibrate step applies, per type, the one centred nearest the MS's time.
    """
    candidates = cal_table_candidates(session, ms.mjd_mid, ms.pointing_dec_deg)
    return [t for t in candidates if why_unusable(t, ms.mjd_mid, ms.pointing_dec_deg) is None]


#: Calibration tables, filtered by type, status, set and validity at a time.
CAL_TABLES = Listing(
    "cal",
    CalTable,
    (
        Filter("table_type", CalTableType, CalTable.table_type),
        Filter("status", CalTableStatus, CalTable.status),
        Filter("set_name", str, CalTable.set_name, max_length=128),
        Filter(
            "valid_at_mjd",
            float,
            op="where",
            ge=MJD_BOUNDS[0],
            le=MJD_BOUNDS[1],
            description="Only tables valid at this time (MJD)",
            where=lambda mjd: sa.and_(
                CalTable.valid_start_mjd <= mjd, CalTable.valid_end_mjd >= mjd
            ),
        ),
    ),
)
list_cal_tables = CAL_TABLES.page
