"""Groups waiting for calibration, and putting them back in the queue.

When no valid tables cover a group (its strip's calibrator has not transited
yet), the calibrate stage sets its MS's stage to ``waiting_cal`` (the reason
in its note, ``cal_applied`` false) and the group ends failed at the image
stage. Once a calibrator transit is solved, :func:`requeue_waiting` finds the
waiting groups that the valid tables now cover (the calibrate stage's own
rule, :func:`~dsa110_contimg.calibration.select_tables`, on the same
pre-selected candidates) and queues them again; the stages skip what is
registered, so the group goes calibrate -> image -> photometry with the new
tables.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.calibration.select import select_tables
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope

log = logging.getLogger(__name__)


def requeue_waiting(factory: sessionmaker[Session]) -> list[str]:
    """Queue again every waiting group the valid tables now cover; their ids."""
    requeued = []
    with session_scope(factory) as session:
        for group, ms in repo.waiting_for_calibration(session):
            candidates = repo.cal_table_candidates(session, ms.mjd_mid, ms.pointing_dec_deg)
            selection = select_tables(candidates, ms.mjd_mid, ms.pointing_dec_deg)
            if not selection.ok:
                continue
            names = ", ".join(sorted(p.rsplit("/", 1)[-1] for p in selection.paths))
            repo.requeue_group(
                session, group, f"requeued: valid calibration now available ({names})"
            )
            requeued.append(group.id)
    if requeued:
        log.info("requeued %d groups waiting for calibration: %s", len(requeued), requeued)
    return requeued
