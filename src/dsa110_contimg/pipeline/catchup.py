"""The catch-up policy: behind real time, image at a quick tier now and the run's tier later.

When ``settings.catchup`` is on and a group ended more than
``settings.catchup_lag_s`` before the clock (its start + 309.24 s, against
UTC now), the daemon images it at ``settings.catchup_tier`` and queues a
``reimage`` batch of its MS at the run's own tier (``requested_by``
``stream:catch-up``). While any runnable group is that far behind, the daemon
runs no batch; once it has caught up, the queued re-images run through the
batch queue like any other (visible as jobs), and each supersedes the quick
image (a new version, never an overwrite). Off (the default), nothing here runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from astropy.time import Time
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.pipeline.context import RunOptions
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.telescope.constants import GROUP_DURATION_S

log = logging.getLogger(__name__)

#: Who the queued re-images are recorded as requested by.
REQUESTER = "stream:catch-up"


def utc_now_mjd() -> float:
    """The clock: UTC now as MJD."""
    return float(Time.now().mjd)


def lags_s(
    factory: sessionmaker[Session], group_ids: Sequence[str], clock: Callable[[], float]
) -> dict[str, float]:
    """Seconds by which each group's end is behind the clock (negative: still in the future)."""
    if not group_ids:
        return {}
    now = clock()
    with session_scope(factory) as session:
        groups = repo.groups_by_id(session, list(group_ids))
        return {g.id: (now - g.start_mjd) * 86400.0 - GROUP_DURATION_S for g in groups}


def catchup_options(settings: Settings, options: RunOptions) -> RunOptions:
    """The run's options with the catch-up tier (its imaging overrides dropped)."""
    return dataclasses.replace(options, tier=settings.catchup_tier, imaging={})


def queue_reimage(factory: sessionmaker[Session], group_id: str, options: RunOptions) -> str | None:
    """Queue the group's MS for a re-image at the run's tier; the batch's run id (None: no MS)."""
    with session_scope(factory) as session:
        ms = repo.usable_ms_of_group(session, group_id)
        if ms is None:
            return None
        params = {"tier": options.tier, "reason": f"catch-up: {group_id} imaged at a quick tier"}
        if options.imaging:
            params.update(options.imaging)
        batch = repo.create_batch(
            session, "reimage", [("ms", ms.path)], params=params, requested_by=REQUESTER
        )
        log.info(
            "catch-up: %s imaged quickly, %s queued at %s", group_id, batch.run_id, options.tier
        )
        return batch.run_id
