"""What several steps look up: a group's files and its registered MS."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.pipeline.runner import StageContext
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    FileStatus,
    MeasurementSet,
    ProductStatus,
    RawFile,
)

log = logging.getLogger(__name__)


def group_files(session: sa.orm.Session, group_id: str) -> list[Path]:
    """Paths of a group's usable (not quarantined) subband files, by subband."""
    rows = session.scalars(
        sa.select(RawFile)
        .where(RawFile.group_id == group_id, RawFile.status != FileStatus.QUARANTINED)
        .order_by(RawFile.subband)
    ).all()
    if not rows:
        raise InputDataError(
            f"group {group_id} has no usable files", hint="run `dsa110 index` first"
        )
    return [Path(r.path) for r in rows]


def group_ms(session: sa.orm.Session, group_id: str) -> MeasurementSet | None:
    """The group's registered, existing MS, if any."""
    ms = session.scalars(
        sa.select(MeasurementSet).where(
            MeasurementSet.group_id == group_id, MeasurementSet.status == ProductStatus.OK
        )
    ).first()
    return ms if ms is not None and Path(ms.path).exists() else None


def ms_row(ctx: StageContext) -> MeasurementSet:
    with session_scope(ctx.factory) as session:
        ms = group_ms(session, ctx.group_id)
        if ms is None:
            raise InputDataError(
                f"group {ctx.group_id} has no registered MS", hint="run the convert stage"
            )
        session.expunge(ms)
        return ms
