"""The daemon's mosaic stage and the mosaic batch: one mosaic per strip and day, versioned.

Two simulated groups of one strip (a calibrator transit and a target, 77 s
apart on one day) go through the stream daemon with the mosaic stage on.
While the day is not over (the clock says so) no mosaic is made; once it is
and both groups are done, the strip's mosaic is made of both images, and a
cycle with nothing new makes nothing. A re-image of one group changes the
tiles: the next cycle makes version 2, superseding version 1. A
``POST /api/batch/mosaic`` of the same strip and day, executed by the batch
executor, makes version 3; bad requests are refused with the standard error
body, and the dashboard's preview PNG is served.
"""

from __future__ import annotations

import math
import sys
import threading
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.ingest import IngestPolicy
from dsa110_contimg.pipeline.operations import BatchExecutor
from dsa110_contimg.pipeline.stream import run_stream
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    Mosaic,
    ObservationGroup,
    ProductStatus,
)

from .conftest import prepare_root

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from api_support import API_KEY, LOCAL, make_settings  # noqa: E402

KEY = {"X-API-Key": API_KEY}


def _stream(settings, factory, clock_mjd: float) -> None:
    run_stream(
        settings,
        factory,
        threading.Event(),
        interval=0.0,
        once=True,
        policy=IngestPolicy.from_settings(settings, settle_s=0.0),
        options={"tier": "quicklook"},
        clock=lambda: clock_mjd,
    )


def _mosaics(factory) -> list[tuple[int, int, ProductStatus, int | None, set[int]]]:
    """(id, version, status, superseded_by_id, tile image ids) of every mosaic, by id."""
    with session_scope(factory) as s:
        return [
            (m.id, m.version, m.status, m.superseded_by_id, repo.mosaic_tile_ids(s, m.id))
            for m in s.scalars(sa.select(Mosaic).order_by(Mosaic.id))
        ]


def _current_pb(factory) -> set[int]:
    with session_scope(factory) as s:
        return set(
            s.scalars(
                sa.select(Image.id).where(
                    Image.image_type == "image-pb", Image.status == ProductStatus.OK
                )
            )
        )


def test_daemon_mosaics_a_strip_day_and_versions_it(
    tmp_path: Path, sim_two_groups, require_tool
) -> None:
    require_tool("wsclean")
    sim_dir, truth = sim_two_groups
    settings = prepare_root(tmp_path / "root", sim_dir)
    settings = settings.model_copy(update={"mosaic_stage": True, "mosaic_timeout_s": 3600.0})
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    start = min(g["start_mjd"] for g in truth["groups"])
    day_end = math.floor(start) + 1.0

    _stream(settings, factory, start + 0.01)  # the day is not over: groups done, no mosaic
    with session_scope(factory) as s:
        assert all(g.state == "done" for g in s.scalars(sa.select(ObservationGroup)))
        dec = s.scalars(sa.select(ObservationGroup.dec_deg)).first()
    assert _mosaics(factory) == []

    _stream(settings, factory, day_end + 0.001)  # over: the strip's mosaic of both images
    first = _current_pb(factory)
    assert len(first) == 2
    ((m1, v1, s1, by1, tiles1),) = _mosaics(factory)
    assert (v1, s1, by1, tiles1) == (1, ProductStatus.OK, None, first)
    with session_scope(factory) as s:
        row = s.get(Mosaic, m1)
        assert row.period == "1d" and row.period_start_mjd == math.floor(start)
        assert abs(row.strip_dec_deg - dec) <= settings.mosaic_strip_width_deg / 2
        assert Path(row.path).is_file() and Path(row.preview_path).is_file()
        job = s.scalars(sa.select(Job).where(Job.job_type == "mosaic")).one()
        assert job.status is JobStatus.SUCCEEDED and job.outputs["mosaic_id"] == m1

    _stream(settings, factory, day_end + 0.002)  # nothing changed: nothing made
    assert len(_mosaics(factory)) == 1

    # a re-image of one group (a new image version) changes the tiles: version 2
    with session_scope(factory) as s:
        ms_path = s.scalars(sa.select(MeasurementSet.path).order_by(MeasurementSet.id)).first()
        repo.create_batch(s, "reimage", [("ms", ms_path)], params={"tier": "quicklook"})
    _stream(settings, factory, day_end + 0.003)
    second = _current_pb(factory)
    assert len(second) == 2 and second != first
    (_, _, s1, by1, _), (m2, v2, s2, by2, tiles2) = _mosaics(factory)
    assert (s1, by1) == (ProductStatus.SUPERSEDED, m2)
    assert (v2, s2, by2, tiles2) == (2, ProductStatus.OK, None, second)

    # the API's mosaic batch: refused when bad, queued when good, run by the executor
    app = create_app(make_settings(settings.data_root, settings.db_url))
    with TestClient(app, client=LOCAL) as client:
        for body, status in (
            ({}, 422),
            ({"dec_deg": dec}, 422),
            ({"dec_deg": dec, "mjd_start": 5, "mjd_end": 4}, 422),
            ({"dec_deg": 91, "mjd_start": 4, "mjd_end": 5}, 422),
            ({"image_ids": []}, 422),
            ({"image_ids": [1], "dec_deg": 10, "mjd_start": 4, "mjd_end": 5}, 422),
            ({"image_ids": [999999]}, 404),
        ):
            response = client.post("/api/batch/mosaic", json=body, headers=KEY)
            assert response.status_code == status, (body, response.text)
            assert set(response.json()["error"]) >= {"code", "message"}
        assert client.post("/api/batch/mosaic", json={"image_ids": [1]}).status_code in (401, 403)
        body = {"dec_deg": dec, "mjd_start": math.floor(start), "mjd_end": day_end}
        queued = client.post("/api/batch/mosaic", json=body, headers=KEY)
        assert queued.status_code == 202, queued.text
        assert queued.json()["operation"] == "mosaic"
        run_id = queued.json()["run_id"]
        assert BatchExecutor(settings, factory).run_all() == [run_id]
        job = client.get(f"/api/jobs/{run_id}").json()
        assert job["status"] == "succeeded", job
        (_, _, _, _, _), (_, _, s2, by2, _), (m3, v3, s3, _, tiles3) = _mosaics(factory)
        assert (s2, by2, v3, s3, tiles3) == (
            ProductStatus.SUPERSEDED,
            m3,
            3,
            ProductStatus.OK,
            second,
        )
        for kind in ("preview", "thumbnail"):
            png = client.get(f"/api/mosaics/{m3}/{kind}.png")
            assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        assert client.get("/api/mosaics/999999/preview.png").status_code == 404
        detail = client.get(f"/api/mosaics/{m1}").json()
        assert detail["status"] == "superseded" and detail["superseded_by_id"] == m2
    engine.dispose()


def test_a_period_waits_for_its_groups_or_the_timeout(tmp_path: Path) -> None:
    """No database beyond rows: which strips and periods are due, by the rule and the clock."""
    import datetime as dt

    from dsa110_contimg.config import load_settings
    from dsa110_contimg.pipeline.steps.mosaic import MosaicStageOptions, due_mosaics
    from dsa110_contimg.products import upgrade
    from dsa110_contimg.products.models import GroupState

    settings = load_settings(data_root=tmp_path / "data")
    settings.ensure_folders()
    upgrade(settings.db_url)
    factory = make_session_factory(make_engine(settings.db_url))
    day = 61000.0
    # strip +30: two groups, one still processing; strip +45: one group, done
    rows = [("a", day + 0.5, 30.2, GroupState.DONE), ("b", day + 0.6, 29.9, GroupState.PROCESSING)]
    rows.append(("c", day + 0.5, 45.1, GroupState.DONE))
    with session_scope(factory) as s:
        for gid, mjd, dec, state in rows:
            repo.register_group(
                s,
                group_id=gid,
                start_time=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                start_mjd=mjd,
                dec_deg=dec,
                state=state,
            )
            ms = f"{tmp_path}/{gid}.ms"
            repo.register_ms(s, path=ms, group_id=gid, mjd_start=mjd, mjd_mid=mjd, mjd_end=mjd)
            for kind in ("image-pb", "beam"):
                repo.register_image(
                    s,
                    path=f"{tmp_path}/{gid}-{kind}.fits",
                    ms_path=ms,
                    image_type=kind,
                    mjd_obs=mjd + 0.002,
                    ra_deg=10.0,
                    dec_deg=dec + 0.14,  # an image's centre is not its group's pointing
                    size_x=8,
                    size_y=8,
                    cell_arcsec=6.0,
                    noise_jy=1e-3,
                    pbcor=kind == "image-pb",
                )
    options = MosaicStageOptions(timeout_s=3600.0)

    def due(now: float) -> list[tuple[float, float]]:
        with session_scope(factory) as s:
            return [(p.strip_dec_deg, p.mjd_start) for p in due_mosaics(s, options, now)]

    assert due(day + 0.9) == []  # the day is not over
    assert due(day + 1.01) == [(45.0, day)]  # over; strip +30 still has a group running
    assert due(day + 1.05) == [(30.0, day), (45.0, day)]  # the timeout has passed
    with session_scope(factory) as s:
        s.get(ObservationGroup, "b").state = GroupState.DONE
        (plan,) = [p for p in due_mosaics(s, options, day + 1.01) if p.strip_dec_deg == 30.0]
        assert sorted(t.image_id for t in plan.tiles(s)) == sorted(
            s.scalars(
                sa.select(Image.id)
                .join(MeasurementSet, MeasurementSet.id == Image.ms_id)
                .where(Image.image_type == "image-pb", MeasurementSet.group_id.in_(["a", "b"]))
            )
        )
    assert due(day + 1.01) == [(30.0, day), (45.0, day)]  # all done: no need to wait
