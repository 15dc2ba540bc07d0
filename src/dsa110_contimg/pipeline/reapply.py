"""Groups left uncalibrated for lack of valid tables, and putting them back in the queue.

When no valid tables cover a group (its strip's calibrator has not transited
yet), the calibrate stage records why on the MS row (``note`` starting with
:data:`UNCALIBRATED_NOTE`, ``cal_applied`` false) and the group ends failed at
the image stage. Once a calibrator transit is solved, :func:`requeue_waiting`
finds those groups that the valid tables now cover (the calibrate stage's own
selection: same strip, inside the validity windows) and queues them again; the
stages skip what is registered, so the group goes calibrate -> image ->
photometry with the new tables. No schema change: the waiting state is the MS
row's existing ``note`` and ``cal_applied`` columns.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    CalTable,
    CalTableStatus,
    GroupState,
    MeasurementSet,
    ObservationGroup,
    ProductStatus,
    utcnow,
)

log = logging.getLogger(__name__)

#: How the calibrate stage's note on an MS without valid tables begins.
UNCALIBRATED_NOTE = "left uncalibrated"


def waiting_groups(session: Session) -> list[tuple[ObservationGroup, MeasurementSet]]:
    """Finished groups whose MS was left uncalibrated for lack of valid tables, in time order."""
    rows = session.execute(
        sa.select(ObservationGroup, MeasurementSet)
        .join(MeasurementSet, MeasurementSet.group_id == ObservationGroup.id)
        .where(
            ObservationGroup.state.in_([GroupState.FAILED, GroupState.DONE]),
            MeasurementSet.status == ProductStatus.OK,
            MeasurementSet.cal_applied.is_(False),
            MeasurementSet.note.startswith(UNCALIBRATED_NOTE),
        )
        .order_by(ObservationGroup.start_mjd)
    ).all()
    return [(group, ms) for group, ms in rows]


def requeue_waiting(factory: sessionmaker[Session]) -> list[str]:
    """Queue again every waiting group the valid tables now cover; their ids."""
    from dsa110_contimg.calibration import select_tables
    from dsa110_contimg.errors import DSA110Error

    requeued = []
    with session_scope(factory) as session:
        tables = session.scalars(
            sa.select(CalTable).where(CalTable.status == CalTableStatus.VALID)
        ).all()
        for group, ms in waiting_groups(session):
            try:
                selection = select_tables(tables, ms.mjd_mid, ms.pointing_dec_deg)
            except DSA110Error:  # only another strip's tables: still waiting
                continue
            if not selection.ok:
                continue
            names = ", ".join(sorted(p.rsplit("/", 1)[-1] for p in selection.paths))
            group.state, group.updated_at = GroupState.QUEUED, utcnow()
            group.error = f"requeued: valid calibration now available ({names})"
            repo.publish_event(
                session, "group", "requeued", {"group_id": group.id, "reason": group.error}
            )
            requeued.append(group.id)
    if requeued:
        log.info("requeued %d groups waiting for calibration: %s", len(requeued), requeued)
    return requeued
