"""The retention plan and its application on real files and a real DB (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from retention_support import IMAGE_BYTES, MS_BYTES, RAW_BYTES, World, build_world

from dsa110_contimg.products.models import (
    CalTable,
    Event,
    FileStatus,
    Image,
    Job,
    MeasurementSet,
    ProductStatus,
    RawFile,
)
from dsa110_contimg.retention import apply_retention, make_plan

INTERMEDIATES = ("residual", "model", "psf", "dirty")
KEPT_TYPES = ("image-pb", "image", "beam")


def _plan(world: World):
    with world.factory() as session:
        return make_plan(world.settings, session)


def test_the_plan_lists_each_class_and_deletes_nothing(world: World) -> None:
    plan = _plan(world)
    c = plan.classes
    p = world.paths
    assert sorted(i.path for i in c["raw"].items) == sorted(
        str(p[f"raw_old_{sb}"]) for sb in range(2)
    )
    assert c["raw"].size_bytes == 2 * RAW_BYTES
    # unverified MS: its raw files stay; the batch's group: in use (the queued group
    # is not done, so not even a candidate)
    assert c["raw"].protected == {
        "MS not verified on disk": 2,
        "used by pending or running work": 2,
    }
    assert [i.path for i in c["ms"].items] == [str(p["ms_old"])]
    assert c["ms"].size_bytes == MS_BYTES
    assert c["ms"].protected == {
        "MS not verified on disk": 1,
        "used by pending or running work": 2,
    }
    assert sorted(i.path for i in c["intermediate"].items) == sorted(
        str(p[f"{kind}_{name}"]) for kind in INTERMEDIATES for name in ("old", "unver")
    )
    assert c["intermediate"].size_bytes == 8 * IMAGE_BYTES
    assert [i.path for i in c["log"].items] == [str(p["log_old"])]
    # the valid table is never a candidate; the expired one covers an MS waiting for tables
    assert [i.path for i in c["caltable"].items] == [str(p["cal_retired"])]
    assert c["caltable"].protected == {"covers data not yet calibrated": 1}
    assert (c["event"].rows, c["heartbeat"].rows) == (3, 4)
    assert all(path.exists() for path in p.values())
    with world.factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Event)) >= 9
        assert not session.scalars(
            sa.select(Image).where(Image.status == ProductStatus.PURGED)
        ).all()


def test_apply_removes_the_files_and_keeps_the_rows_purged(world: World) -> None:
    report = apply_retention(world.settings, world.factory)
    p = world.paths
    assert report.removed_files == {"raw": 2, "ms": 1, "intermediate": 8, "log": 1, "caltable": 1}
    assert report.total_bytes == 2 * RAW_BYTES + MS_BYTES + 8 * IMAGE_BYTES + 1000 + 100
    assert report.deleted_rows == {"event": 3, "heartbeat": 4}
    gone = [
        "raw_old_0",
        "raw_old_1",
        "ms_old",
        "log_old",
        "cal_retired",
        *(f"{kind}_{name}" for kind in INTERMEDIATES for name in ("old", "unver")),
    ]
    for key in gone:
        assert not p[key].exists(), key
    for key in set(p) - set(gone):
        assert p[key].exists(), key  # kept classes, protected and unverified products
    with world.factory() as session:
        raw = {r.path: r for r in session.scalars(sa.select(RawFile))}
        assert raw[str(p["raw_old_0"])].status == FileStatus.PURGED
        assert raw[str(p["raw_old_0"])].purged_at is not None
        assert raw[str(p["raw_unver_0"])].status == FileStatus.CONVERTED
        ms = session.get(MeasurementSet, world.ids["ms_old"])
        assert ms.status == ProductStatus.PURGED and ms.purged_at is not None
        assert ms.stage == "imaged" and ms.mjd_mid  # metadata kept
        for kind in INTERMEDIATES:
            assert session.get(Image, world.ids[f"{kind}_old"]).status == ProductStatus.PURGED
        for kind in KEPT_TYPES:
            image = session.get(Image, world.ids[f"{kind}_old"])
            assert image.status == ProductStatus.OK and image.purged_at is None
        job = session.get(Job, world.ids["job_old"])
        assert job.log_purged_at is not None and job.log_path  # the row and its path stay
        tables = {t.set_name: t.status for t in session.scalars(sa.select(CalTable))}
        assert tables == {"valid": "valid", "needed": "expired", "retired": "purged"}
        assert session.scalar(sa.select(sa.func.count()).select_from(Event)) > 0
        left = session.scalars(sa.select(Event.topic).where(Event.kind == "heartbeat")).all()
        assert left == ["worker"]
    again = _plan(world)
    assert again.files == 0 and again.size_bytes == 0


def test_keep_settings_keep_a_class(tmp_path) -> None:
    world = build_world(
        tmp_path / "data",
        None,
        retention_raw_days="keep",
        retention_ms_days="keep",
        retention_intermediate_days=30,
    )
    plan = _plan(world)
    assert plan.classes["raw"].files == plan.classes["ms"].files == 0
    assert plan.classes["raw"].age_days is None
    assert plan.classes["intermediate"].files == 0  # 10 days old, kept 30
    assert plan.classes["caltable"].files == 0  # default: keep
    assert plan.classes["log"].files == 1


def test_a_running_job_s_inputs_are_never_removed(world: World) -> None:
    from dsa110_contimg.products import session_scope
    from dsa110_contimg.products.models import JobStatus

    residual = str(world.paths["residual_old"])
    with session_scope(world.factory) as session:
        session.add(
            Job(
                run_id="mosaic-running",
                job_type="mosaic",
                status=JobStatus.RUNNING,
                inputs={residual: {"size": IMAGE_BYTES}},
            )
        )
    plan = _plan(world)
    assert residual not in [i.path for i in plan.classes["intermediate"].items]
    assert plan.classes["intermediate"].files == 7
    apply_retention(world.settings, world.factory)
    assert world.paths["residual_old"].exists()


def test_a_row_pointing_outside_the_data_folders_deletes_nothing(world: World, tmp_path) -> None:
    from dsa110_contimg.products import session_scope

    outside = tmp_path / "elsewhere.fits"
    outside.write_bytes(b"keep me")
    with session_scope(world.factory) as session:
        image = session.get(Image, world.ids["dirty_old"])
        image.path = str(outside)
    report = apply_retention(world.settings, world.factory)
    assert outside.exists() and str(outside) in report.failed
    with world.factory() as session:
        assert session.get(Image, world.ids["dirty_old"]).status == ProductStatus.OK
