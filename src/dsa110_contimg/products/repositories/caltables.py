"""Calibration tables and their applications to Measurement Sets."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    CalApplication,
    CalTable,
    CalTableStatus,
    MeasurementSet,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.jobs import get_job
from dsa110_contimg.products.repositories.ms import get_ms
from dsa110_contimg.products.repositories.query import _LISTS, Page, _one, _page_of, _set_fields

CAL_DEC_TOLERANCE_DEG = 1.5


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
    return table


def record_cal_application(
    session: Session, *, ms_path: str, cal_path: str, job_run_id: str | None = None
) -> CalApplication:
    """Record that the table at ``cal_path`` was applied to the MS at ``ms_path``."""
    ms = get_ms(session, ms_path)
    table = get_cal_table(session, cal_path)
    job_id = get_job(session, job_run_id).id if job_run_id else None
    application = CalApplication(ms_id=ms.id, cal_table_id=table.id, job_id=job_id)
    ms.cal_applied = True
    session.add(application)
    session.flush()
    return application


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
    """Valid calibration tables whose validity covers the MS and whose declination matches."""
    stmt = sa.select(CalTable).where(
        CalTable.status == CalTableStatus.VALID,
        CalTable.valid_start_mjd <= ms.mjd_mid,
        CalTable.valid_end_mjd >= ms.mjd_mid,
    )
    dec = ms.pointing_dec_deg
    if dec is not None:
        stmt = stmt.where(
            sa.or_(
                CalTable.dec_deg.is_(None),
                CalTable.dec_deg.between(dec - CAL_DEC_TOLERANCE_DEG, dec + CAL_DEC_TOLERANCE_DEG),
            )
        )
    return list(session.scalars(stmt.order_by(CalTable.valid_start_mjd.desc(), CalTable.id)))


def list_cal_tables(
    session: Session,
    *,
    table_type: str | None = None,
    status: str | None = None,
    set_name: str | None = None,
    valid_at_mjd: float | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Calibration tables, filtered by type, status, set and validity at a time."""
    stmt = _LISTS[CalTable]
    for column, value in (
        (CalTable.table_type, table_type),
        (CalTable.status, status),
        (CalTable.set_name, set_name),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if valid_at_mjd is not None:
        stmt = stmt.where(
            CalTable.valid_start_mjd <= valid_at_mjd, CalTable.valid_end_mjd >= valid_at_mjd
        )
    return _page_of(session, "cal", CalTable, stmt, sort, limit, offset)
