"""Counts and gauges over the whole products database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    CalTable,
    CalTableStatus,
    Candidate,
    Image,
    Job,
    MeasurementSet,
    Mosaic,
    ObservationGroup,
    Photometry,
    Source,
)
from dsa110_contimg.products.repositories.events import last_heartbeat


def _counts_by(session: Session, column: Any) -> dict[str, int]:
    rows = session.execute(sa.select(column, sa.func.count()).group_by(column)).all()
    return {str(key): int(n) for key, n in rows}


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def stats(session: Session) -> dict[str, Any]:
    """Counts by stage and status, and the newest products."""
    newest_images = session.scalars(sa.select(Image).order_by(Image.id.desc()).limit(5)).all()
    newest_ms = session.scalars(
        sa.select(MeasurementSet).order_by(MeasurementSet.id.desc()).limit(5)
    ).all()
    return {
        "groups_by_state": _counts_by(session, ObservationGroup.state),
        "ms_by_stage": _counts_by(session, MeasurementSet.stage),
        "jobs_by_status": _counts_by(session, Job.status),
        "candidates_by_status": _counts_by(session, Candidate.status),
        "cal_tables_by_status": _counts_by(session, CalTable.status),
        "images": _count(session, Image),
        "sources": _count(session, Source),
        "photometry_rows": _count(session, Photometry),
        "mosaics": _count(session, Mosaic),
        "recent_images": list(newest_images),
        "recent_ms": list(newest_ms),
    }


def science_gauges(session: Session) -> dict[str, Any]:
    """Live numbers for monitoring: counts, newest image noise, newest valid calibration.

    Returns
    -------
    dict
        ``ms_by_stage``, ``jobs_by_status`` (dicts), ``images``, ``sources``,
        ``photometry_rows`` (ints), ``newest_image_noise_jy`` (float or None),
        ``newest_valid_cal_created_at`` (UTC datetime or None),
        ``groups_by_state`` (dict) and ``newest_heartbeat_at`` (the newest
        worker heartbeat's time, or None).
    """
    noise = session.scalar(sa.select(Image.noise_jy).order_by(Image.mjd_obs.desc()).limit(1))
    cal_time = session.scalar(
        sa.select(sa.func.max(CalTable.created_at)).where(CalTable.status == CalTableStatus.VALID)
    )
    if isinstance(cal_time, dt.datetime) and cal_time.tzinfo is None:
        cal_time = cal_time.replace(tzinfo=dt.UTC)  # aggregates bypass the column type
    elif isinstance(cal_time, str):
        cal_time = dt.datetime.fromisoformat(cal_time).replace(tzinfo=dt.UTC)
    return {
        "ms_by_stage": _counts_by(session, MeasurementSet.stage),
        "jobs_by_status": _counts_by(session, Job.status),
        "images": _count(session, Image),
        "sources": _count(session, Source),
        "photometry_rows": _count(session, Photometry),
        "newest_image_noise_jy": noise,
        "newest_valid_cal_created_at": cal_time,
        "groups_by_state": _counts_by(session, ObservationGroup.state),
        "newest_heartbeat_at": beat.created_at if (beat := last_heartbeat(session)) else None,
    }


def row_counts(session: Session, tables: dict[str, Any]) -> dict[str, int]:
    """The number of rows of each model, by the given names."""
    return {
        name: int(session.scalar(sa.select(sa.func.count()).select_from(model)))
        for name, model in tables.items()
    }
