"""The catch-up policy drains a backlog: quick images first, the run's tier once caught up.

Two simulated groups (a calibrator transit and a target) wait in the
daemon's incoming folder; the clock says they ended a day ago, far beyond the
lag. With the policy on, the daemon images both at the catch-up tier, queues
a re-image of each at the run's tier, runs none of them while it is behind,
then, caught up, runs both: each MS ends with a superseded quick image
(version 1) and a current image at the run's tier (version 2). With the
policy off (the default) the same backlog is imaged once, at the run's tier,
and nothing is queued.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsa110_contimg.ingest import IngestPolicy
from dsa110_contimg.pipeline.catchup import REQUESTER
from dsa110_contimg.pipeline.stream import run_stream
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.models import (
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    ProductStatus,
)
from dsa110_contimg.telescope.constants import GROUP_DURATION_S

from .conftest import prepare_root

#: The run's own tier, kept small: the policy is what is tested, not WSClean.
RUN = {"tier": "standard", "max_image_size": 1024}


def _stream(settings, clock_mjd: float, events: list) -> None:
    engine = make_engine(settings.db_url)
    try:
        run_stream(
            settings,
            make_session_factory(engine),
            threading.Event(),
            interval=0.0,
            once=True,
            policy=IngestPolicy.from_settings(settings, settle_s=0.0),
            options=RUN,
            on_group=lambda gid, ok: events.append(("group", gid, ok)),
            on_batch_item=lambda run_id, key, status: events.append(("reimage", key, status)),
            clock=lambda: clock_mjd,
        )
    finally:
        engine.dispose()


def _images(factory) -> dict[str, list[tuple[int, ProductStatus, int, float]]]:
    """Per group: its image-pb rows as (version, status, size, cell), by version."""
    with session_scope(factory) as s:
        rows = s.execute(
            sa.select(MeasurementSet.group_id, Image)
            .join(Image, Image.ms_id == MeasurementSet.id)
            .where(Image.image_type == "image-pb")
            .order_by(Image.version)
        ).all()
        out: dict[str, list] = {}
        for gid, im in rows:
            out.setdefault(gid, []).append((im.version, im.status, im.size_x, im.cell_arcsec))
        return out


@pytest.mark.parametrize("policy", [True, False])
def test_backlog_drains_quick_then_standard(
    tmp_path: Path, sim_two_groups, require_tool, policy: bool
) -> None:
    require_tool("wsclean")
    sim_dir, truth = sim_two_groups
    settings = prepare_root(tmp_path / "root", sim_dir)
    settings = settings.model_copy(update={"catchup": policy, "catchup_lag_s": 600.0})
    groups = sorted(g["group_id"] for g in truth["groups"])
    last_end = max(g["start_mjd"] for g in truth["groups"]) + GROUP_DURATION_S / 86400
    events: list = []
    _stream(settings, last_end + 1.0, events)  # a day behind

    factory = make_session_factory(make_engine(settings.db_url))
    images = _images(factory)
    with session_scope(factory) as s:
        states = {g.id: g.state for g in s.scalars(sa.select(ObservationGroup))}
        batches = s.scalars(
            sa.select(Job).where(Job.job_type == "batch", Job.requested_by == REQUESTER)
        ).all()
        ms_paths = {m.group_id: m.path for m in s.scalars(sa.select(MeasurementSet))}
        batch_status = sorted(b.status for b in batches)
    assert all(states[g] is GroupState.DONE for g in groups), states
    kinds = [e[0] for e in events]
    print(events)
    if not policy:
        assert kinds == ["group", "group"] and not batches
        assert all(len(images[g]) == 1 and images[g][0][1] is ProductStatus.OK for g in groups)
        return
    # both groups first (quick), then both re-images, each of its own group's MS
    assert kinds == ["group", "group", "reimage", "reimage"], events
    assert all(ok for _, _, ok in events[:2])
    assert [e[1] for e in events[2:]] == [ms_paths[e[1]] for e in events[:2]]
    assert all(e[2] is JobStatus.SUCCEEDED for e in events[2:])
    assert batch_status == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
    for g in groups:
        (v1, s1, size1, cell1), (v2, s2, size2, cell2) = images[g]
        assert (v1, s1, v2, s2) == (1, ProductStatus.SUPERSEDED, 2, ProductStatus.OK)
        assert (size1, cell1) != (size2, cell2)  # two tiers, not the same image twice
