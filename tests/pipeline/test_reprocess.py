"""Reprocess redoes work from a named step, as new versions; the batch policy orders the queue."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dsa110_contimg.cli import main
from dsa110_contimg.pipeline.runner import process_group
from dsa110_contimg.pipeline.stream import run_stream
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    CalApplication,
    CalTable,
    CalTableStatus,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    Photometry,
    ProductStatus,
    VariabilityMetrics,
)

from .conftest import n_transits, prepare_root

QUICK = {"tier": "quicklook"}


@pytest.fixture
def processed(tmp_path: Path, sim_two_groups, require_tool, monkeypatch):
    """Both simulated groups processed once (quicklook), the DB under tmp_path."""
    require_tool("wsclean")
    sim, _ = sim_two_groups
    settings = prepare_root(tmp_path / "root", sim)
    monkeypatch.setenv("DSA110_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("DSA110_INCOMING_DIR", str(settings.incoming_dir))
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    from dsa110_contimg.pipeline.batch import select_groups
    from dsa110_contimg.pipeline.calibrators import split_calibrator_groups

    first, rest = split_calibrator_groups(settings, select_groups(settings))
    for group_id in [*first, *rest]:
        assert process_group(settings, factory, group_id, options=QUICK)
    yield settings, factory, [*first, *rest]
    engine.dispose()


def _target(factory, group_id: str):
    with session_scope(factory) as s:
        ms = repo.usable_ms_of_group(s, group_id)
        images = [
            (i.id, i.version, i.path)
            for i in s.scalars(
                sa.select(Image).where(Image.ms_id == ms.id, Image.image_type == "image-pb")
            )
        ]
        return ms.id, ms.path, images


def _metrics_follow_light_curves(factory) -> None:
    with session_scope(factory) as s:
        for m in s.scalars(sa.select(VariabilityMetrics)):
            n = n_transits(s, m.source_id)
            assert m.n_epochs == n, (m.source_id, m.n_epochs, n)
        superseded = sa.select(Image.id).where(Image.status != ProductStatus.OK)
        assert not s.scalar(
            sa.select(sa.func.count()).where(Photometry.image_id.in_(superseded))
        ), "measurements of superseded images left in the light curves"


def test_reprocess_redoes_from_a_step_as_new_versions(processed) -> None:
    settings, factory, groups = processed
    group = groups[-1]
    ms_id, ms_path, images = _target(factory, group)
    assert [v for _, v, _ in images] == [1]
    with session_scope(factory) as s:
        applied_by = set(
            s.scalars(sa.select(CalApplication.job_id).where(CalApplication.ms_id == ms_id))
        )

    # from calibrate: the same MS calibrated again (the current tables), imaged and measured anew
    result = CliRunner().invoke(
        main, ["reprocess", group, "--from", "calibrate", "--tier", "quicklook"]
    )
    assert result.exit_code == 0, result.output
    _, _, images = _target(factory, group)
    assert sorted(v for _, v, _ in images) == [1, 2]
    with session_scope(factory) as s:
        statuses = {
            i.version: i.status for i in s.scalars(sa.select(Image).where(Image.ms_id == ms_id))
        }
        assert statuses[1] is ProductStatus.SUPERSEDED and statuses[2] is ProductStatus.OK
        assert all(Path(p).exists() for _, _, p in images), "nothing overwritten"
        reapplied = set(
            s.scalars(sa.select(CalApplication.job_id).where(CalApplication.ms_id == ms_id))
        )
        assert reapplied and reapplied.isdisjoint(applied_by), "calibration applied again"
        calibrate_jobs = s.scalars(
            sa.select(Job).where(Job.job_type == "calibrate", Job.group_id == group)
        ).all()
        assert len(calibrate_jobs) == 2 and not calibrate_jobs[-1].outputs.get("skipped")
        assert s.get(ObservationGroup, group).state is GroupState.DONE
    _metrics_follow_light_curves(factory)

    # from convert: a new MS beside the superseded one, and everything after it
    result = CliRunner().invoke(
        main, ["reprocess", group, "--from", "convert", "--tier", "quicklook"]
    )
    assert result.exit_code == 0, result.output
    with session_scope(factory) as s:
        rows = s.scalars(
            sa.select(MeasurementSet)
            .where(MeasurementSet.group_id == group)
            .order_by(MeasurementSet.id)
        ).all()
        assert [r.status for r in rows] == [ProductStatus.SUPERSEDED, ProductStatus.OK]
        assert rows[0].path == ms_path and Path(ms_path).exists()
        assert rows[1].path.endswith(".r2.ms") and Path(rows[1].path).exists()
        new_images = s.scalars(
            sa.select(Image).where(Image.ms_id == rows[1].id, Image.status == ProductStatus.OK)
        ).all()
        assert new_images
        old_ok = s.scalars(
            sa.select(Image).where(Image.ms_id == ms_id, Image.status == ProductStatus.OK)
        ).all()
        assert not old_ok
    _metrics_follow_light_curves(factory)


def test_a_calibrator_group_solves_again_into_new_tables(processed) -> None:
    """From calibrate on a transit group: new tables beside the old, the old superseded, intact."""
    settings, factory, groups = processed
    group = groups[0]
    with session_scope(factory) as s:
        ms_id = repo.usable_ms_of_group(s, group).id
        old = {
            t.id: (t.path, Path(t.path, "table.dat").stat().st_mtime_ns)
            for t in s.scalars(sa.select(CalTable).where(CalTable.source_ms_id == ms_id))
        }
    assert len(old) == 2
    result = CliRunner().invoke(
        main, ["reprocess", group, "--from", "calibrate", "--tier", "quicklook"]
    )
    assert result.exit_code == 0, result.output
    with session_scope(factory) as s:
        tables = s.scalars(
            sa.select(CalTable).where(CalTable.source_ms_id == ms_id).order_by(CalTable.id)
        ).all()
        assert len(tables) == 4
        new = [t for t in tables if t.id not in old]
        assert all(t.status is CalTableStatus.VALID and ".v2." in t.path for t in new)
        for t in tables:
            if t.id in old:
                assert t.status is CalTableStatus.SUPERSEDED
                assert t.superseded_by_id in {n.id for n in new}
                path, mtime = old[t.id]
                assert Path(path, "table.dat").stat().st_mtime_ns == mtime, "old table rewritten"
        applied = s.scalars(
            sa.select(CalApplication.cal_table_id).where(CalApplication.ms_id == ms_id)
        ).all()
        assert {n.id for n in new} <= set(applied)


def test_photometry_only(processed) -> None:
    _, factory, groups = processed
    group = groups[-1]
    _, _, images = _target(factory, group)
    ((image_id, _, _),) = images
    with session_scope(factory) as s:
        before = s.scalar(sa.select(sa.func.count()).where(Photometry.image_id == image_id))
        first_at = s.scalar(
            sa.select(sa.func.max(Photometry.created_at)).where(Photometry.image_id == image_id)
        )
    result = CliRunner().invoke(main, ["reprocess", group, "--from", "photometry"])
    assert result.exit_code == 0, result.output
    with session_scope(factory) as s:
        rows = s.scalars(sa.select(Photometry).where(Photometry.image_id == image_id)).all()
        assert len(rows) == before
        assert all(r.created_at > first_at for r in rows), "measured again"
        job = s.scalars(
            sa.select(Job)
            .where(Job.job_type == "photometry", Job.group_id == group)
            .order_by(Job.id.desc())
        ).first()
        assert job.status is JobStatus.SUCCEEDED and not job.outputs.get("skipped")
    _metrics_follow_light_curves(factory)


def test_bad_step_is_a_usage_error(processed) -> None:
    result = CliRunner().invoke(main, ["reprocess", processed[2][0], "--from", "mosaic"])
    assert result.exit_code == 2


@pytest.mark.parametrize("priority", ["realtime", "batches"])
def test_policy_orders_stream_groups_and_batches(processed, priority) -> None:
    settings, factory, groups = processed
    update: dict = {"batch_priority": priority}
    if "disk_stop_free_gb" in type(settings).model_fields:  # a test disk is small
        update |= {"disk_warn_free_gb": {"default": 0.2}, "disk_stop_free_gb": {"default": 0.1}}
    settings = settings.model_copy(update=update)
    with session_scope(factory) as s:  # a batch waits, and a stream group is runnable again
        batch = repo.create_batch(
            s, "reprocess", [("group", groups[0])], params={"from_step": "photometry"}
        ).run_id
        repo.requeue_group(s, repo.get_group(s, groups[-1]), "new data")
    run_stream(settings, factory, threading.Event(), interval=0.1, once=True, options=QUICK)
    with session_scope(factory) as s:
        api = repo.get_job(s, batch)
        assert api.status is JobStatus.SUCCEEDED, (api.error, [i.error for i in api.items])
        stream_run = s.scalars(
            sa.select(Job)
            .where(Job.job_type == "batch", Job.group_id == groups[-1], Job.parent_id.is_(None))
            .order_by(Job.id.desc())
        ).first()
        assert stream_run.created_at > api.created_at, "the requeued group ran"
        if priority == "realtime":
            assert stream_run.started_at < api.started_at
        else:
            assert api.finished_at < stream_run.started_at


def test_dsa110_process_runs_queued_batches(processed) -> None:
    settings, factory, groups = processed
    with session_scope(factory) as s:
        batch = repo.create_batch(
            s, "reprocess", [("group", groups[-1])], params={"from_step": "photometry"}
        ).run_id
    result = CliRunner().invoke(main, ["process", "--executor", "serial"])
    assert result.exit_code == 0, result.output
    assert f"{batch}: {groups[-1]}: succeeded" in result.output
    with session_scope(factory) as s:
        assert repo.get_job(s, batch).status is JobStatus.SUCCEEDED
