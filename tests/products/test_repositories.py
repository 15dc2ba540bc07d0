"""The repositories: registering products and jobs, events, lists, light curves, counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import CandidateStatus, JobStatus

T0 = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _image(s: Session, path: str = "/data/images/a.fits", mjd: float = 61007.5) -> int:
    repo.register_group(s, group_id="g1", start_time=T0, start_mjd=61007.5)
    repo.register_ms(
        s, path="/data/ms/a.ms", group_id="g1", mjd_start=mjd, mjd_mid=mjd, mjd_end=mjd
    )
    image = repo.register_image(
        s,
        path=path,
        ms_path="/data/ms/a.ms",
        mjd_obs=mjd,
        ra_deg=210.0,
        dec_deg=54.6,
        size_x=10,
        size_y=10,
        cell_arcsec=6.0,
        noise_jy=1e-3,
    )
    return image.id


def test_register_image_publishes_an_event_in_the_same_transaction(factory) -> None:
    with session_scope(factory) as s:
        before = repo.latest_event_id(s)
        image_id = _image(s)
    with session_scope(factory) as s:
        events = repo.events_after(s, before)
        assert [e.topic for e in events if e.topic == "image"] == ["image"]
        assert events[-1].payload["id"] == image_id
        assert repo.get_image(s, image_id).ms.path == "/data/ms/a.ms"


def test_a_failed_registration_leaves_neither_product_nor_event(factory) -> None:
    with pytest.raises(repo.NotFoundError):
        with session_scope(factory) as s:
            repo.register_image(
                s, path="/x.fits", ms_path="/missing.ms", mjd_obs=1.0, ra_deg=0, dec_deg=0,
                size_x=1, size_y=1, cell_arcsec=1.0,
            )  # fmt: skip
    with session_scope(factory) as s:
        assert repo.latest_event_id(s) == 0
        assert repo.list_images(s).total == 0


def test_unknown_fields_are_refused(factory) -> None:
    with pytest.raises(TypeError, match="no column"):
        with session_scope(factory) as s:
            repo.register_source(s, name="x", ra_deg=1.0, dec_deg=1.0, colour="red")


def test_light_curve_and_time_filter(factory) -> None:
    with session_scope(factory) as s:
        src = repo.register_source(s, name="J1", ra_deg=210.0, dec_deg=54.6)
        for k in range(4):
            image_id = _image(s, path=f"/data/images/{k}.fits", mjd=61007.0 + k) if k == 0 else (
                repo.register_image(
                    s, path=f"/data/images/{k}.fits", mjd_obs=61007.0 + k, ra_deg=210.0,
                    dec_deg=54.6, size_x=10, size_y=10, cell_arcsec=6.0,
                ).id
            )  # fmt: skip
            repo.add_photometry(
                s, image_id, [{"source_id": src.id, "mjd": 61007.0 + k, "flux_jy": 1.0 + k,
                               "flux_err_jy": 0.1, "norm_flux_jy": 1.0}],
            )  # fmt: skip
    with session_scope(factory) as s:
        points = repo.light_curve(s, src.id)
        assert [p["mjd"] for p in points] == [61007.0, 61008.0, 61009.0, 61010.0]
        assert [p["flux_jy"] for p in points] == [1.0, 2.0, 3.0, 4.0]
        assert len(repo.light_curve(s, src.id, mjd_min=61008.5, mjd_max=61009.5)) == 1
        with pytest.raises(repo.NotFoundError):
            repo.light_curve(s, 999)


def test_lists_paginate_filter_and_sort(factory) -> None:
    with session_scope(factory) as s:
        for k in range(7):
            repo.register_source(s, name=f"S{k}", ra_deg=10.0 * k, dec_deg=float(k))
    with session_scope(factory) as s:
        page = repo.list_sources(s, limit=3, offset=2, sort="-dec_deg")
        assert (page.total, page.limit, page.offset) == (7, 3, 2)
        assert [item["name"] for item in page.items] == ["S4", "S3", "S2"]
        assert repo.list_sources(s, name="S6").total == 1
        with pytest.raises(repo.InvalidQueryError):
            repo.list_sources(s, sort="colour")
        with pytest.raises(repo.InvalidQueryError):
            repo.list_sources(s, limit=repo.MAX_LIMIT + 1)


def test_cone_search_is_exact_across_ra_zero(factory) -> None:
    with session_scope(factory) as s:
        repo.register_source(s, name="east", ra_deg=0.5, dec_deg=0.0)
        repo.register_source(s, name="west", ra_deg=359.5, dec_deg=0.0)
        repo.register_source(s, name="far", ra_deg=2.0, dec_deg=0.0)
    with session_scope(factory) as s:
        names = {i["name"] for i in repo.list_sources(s, cone=(0.0, 0.0, 1.0)).items}
        assert names == {"east", "west"}
        # Pages of a cone in every order, alone and with another filter.
        for sort in ("id", "-id", "ra_deg", "-ra_deg"):
            every = repo.list_sources(s, cone=(0.0, 0.0, 3.0), sort=sort).items
            assert len(every) == 3
            for offset in range(4):
                page = repo.list_sources(s, cone=(0.0, 0.0, 3.0), sort=sort, offset=offset, limit=1)
                assert page.total == 3 and page.items == every[offset : offset + 1]
            named = repo.list_sources(s, cone=(0.0, 0.0, 3.0), sort=sort, name="e", limit=1)
            assert named.total == 2 and named.items == [i for i in every if "e" in i["name"]][:1]
        ids = [i["id"] for i in repo.list_sources(s, cone=(0.0, 0.0, 3.0), sort="-id").items]
        assert ids == sorted(ids, reverse=True)


def test_job_lifecycle_events(factory) -> None:
    with session_scope(factory) as s:
        job = repo.create_job(s, job_type="image")
        repo.start_job(s, job.run_id, host="n1")
        repo.update_job_progress(s, job.run_id, 0.5, "half")
        repo.finish_job(s, job.run_id, outputs={"image": "/x.fits"})
    with session_scope(factory) as s:
        events = [e for e in repo.events_after(s, 0) if e.topic == f"job:{job.run_id}"]
        assert [e.kind for e in events] == ["created", "started", "progress", "finished"]
        done = repo.get_job(s, job.run_id)
        assert done.status is JobStatus.SUCCEEDED and done.progress == 1.0
        assert done.started_at <= done.finished_at
        assert done.duration_s == (done.finished_at - done.started_at).total_seconds()
        with pytest.raises(ValueError, match=r"^progress must be within 0\.\.1, not 1\.5$"):
            repo.update_job_progress(s, job.run_id, 1.5)


def test_cancel_batch_cancels_pending_and_refuses_finished(factory) -> None:
    with session_scope(factory) as s:
        pending = repo.create_job(s, job_type="convert")
        running = repo.create_job(s, job_type="image")
        repo.start_job(s, running.run_id)
        done = repo.create_job(s, job_type="flag")
        repo.finish_job(s, done.run_id)
    with session_scope(factory) as s:
        batch = repo.request_cancel(s, [pending.run_id, running.run_id], requested_by="t")
        assert batch.job_type == "batch" and len(batch.items) == 2
    with session_scope(factory) as s:
        assert repo.get_job(s, pending.run_id).status is JobStatus.CANCELLED
        assert repo.get_job(s, running.run_id).status is JobStatus.RUNNING
        with pytest.raises(repo.ConflictError):
            repo.request_cancel(s, [done.run_id], requested_by="t")


def test_candidate_status_and_stats(factory) -> None:
    with session_scope(factory) as s:
        src = repo.register_source(s, name="J1", ra_deg=1.0, dec_deg=1.0)
        cand = repo.register_candidate(s, source_id=src.id, kind="ese", score=4.0)
        again = repo.register_candidate(s, source_id=src.id, kind="ese", score=6.0)
        assert again.id == cand.id and again.score == 6.0
        repo.set_candidate_status(s, cand.id, "confirmed", note="seen twice")
    with session_scope(factory) as s:
        assert repo.get_candidate(s, cand.id).status is CandidateStatus.CONFIRMED
        counts = repo.stats(s)
        assert counts["sources"] == 1 and counts["candidates_by_status"] == {"confirmed": 1}


def test_science_gauges(factory) -> None:
    with session_scope(factory) as s:
        _image(s)
        repo.register_cal_table(
            s, path="/c.bcal", table_type="bandpass", set_name="x",
            valid_start_mjd=1.0, valid_end_mjd=2.0, source_ms_path="/data/ms/a.ms",
        )  # fmt: skip
    with session_scope(factory) as s:
        gauges = repo.science_gauges(s)
        assert gauges["images"] == 1 and gauges["newest_image_noise_jy"] == 1e-3
        assert gauges["ms_by_stage"] == {"converted": 1}
        assert gauges["newest_valid_cal_created_at"].tzinfo is not None


def test_heartbeat_event_listing_and_pruning(factory) -> None:
    with session_scope(factory) as s:
        repo.publish_heartbeat(s, "node1", jobs=2)
        repo.publish_event(s, "image", "new", {"id": 1})
    with session_scope(factory) as s:
        assert repo.last_heartbeat(s).payload == {"host": "node1", "jobs": 2}
        assert [e.topic for e in repo.list_events(s, topic="ima*")] == ["image"]
        assert repo.prune_events(s, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 2
        assert repo.latest_event_id(s) == 0


def test_bulk_writes_announce_once_per_transaction(factory) -> None:
    with session_scope(factory) as s:
        sources = [repo.register_source(s, name=f"S{k}", ra_deg=1.0, dec_deg=1.0) for k in range(3)]
        before = repo.latest_event_id(s)
        for src in sources:
            repo.upsert_variability(s, src.id, n_epochs=2, eta=1.0)
    with session_scope(factory) as s:
        assert [e.topic for e in repo.events_after(s, before)] == ["variability"]
        repo.upsert_variability(s, sources[0].id, eta=2.0)
    with session_scope(factory) as s:
        assert [e.topic for e in repo.events_after(s, before)] == ["variability"] * 2


def test_one_session_over_several_transactions_announces_each(factory) -> None:
    session = factory()
    try:
        src = repo.register_source(session, name="S", ra_deg=1.0, dec_deg=1.0)
        session.commit()
        before = repo.latest_event_id(session)
        for eta in (1.0, 2.0, 3.0):
            repo.upsert_variability(session, src.id, eta=eta)
            session.commit()
        assert len(repo.events_after(session, before)) == 3
    finally:
        session.close()


def _expected_order(records: list[dict], key: str, desc: bool) -> list[int]:
    """Ids sorted by ``key`` (None last in both directions), ties by id in the same direction."""
    valued = sorted(
        (r for r in records if r[key] is not None),
        key=lambda r: (r[key], r["id"]),
        reverse=desc,
    )
    missing = sorted((r for r in records if r[key] is None), key=lambda r: r["id"], reverse=desc)
    return [r["id"] for r in valued + missing]


def _all_pages(list_page, limit: int, offset: int) -> list[int]:
    page = list_page(limit=limit, offset=offset)
    return [item["id"] for item in page.items]


def test_sorted_lists_put_missing_values_last_on_every_page(factory) -> None:
    # Sources with metrics (one eta NULL, two tied etas), some without metrics at all,
    # some without a catalog flux: every page of every sort must be a slice of one order.
    metrics = {0: (2.0, 0.1, 5), 1: (None, 0.3, 1), 2: (2.0, None, 5), 3: (7.5, 0.2, 9),
               5: (0.5, 0.4, 2), 7: (3.0, 0.1, 4)}  # fmt: skip
    records = []
    with session_scope(factory) as s:
        for k in range(10):
            flux = None if k % 3 == 0 else 0.1 * (k % 4)
            src = repo.register_source(
                s, name=f"S{k}", ra_deg=10.0 + k, dec_deg=float(k % 5), catalog_flux_jy=flux
            )
            eta, v, n = metrics.get(k, (None, None, None))
            if k in metrics:
                repo.upsert_variability(s, src.id, eta=eta, v=v, n_epochs=n)
            records.append({"id": src.id, "eta": eta, "v": v, "n_epochs": n,
                            "catalog_flux_jy": flux, "dec_deg": float(k % 5)})  # fmt: skip
    with session_scope(factory) as s:
        for key in ("eta", "v", "n_epochs", "catalog_flux_jy", "dec_deg"):
            for desc in (False, True):
                expected = _expected_order(records, key, desc)
                sort = ("-" if desc else "") + key

                def page(limit: int, offset: int, sort: str = sort):
                    return repo.list_sources(s, sort=sort, limit=limit, offset=offset)

                assert page(50, 0).total == len(records)
                for limit in (1, 2, 3, 4, 7, 10):
                    for offset in range(12):
                        got = _all_pages(page, limit, offset)
                        assert got == expected[offset : offset + limit], (sort, limit, offset)
        # Filters on metrics drop sources without values; the sort still puts NULLs last.
        filtered = [r for r in records if r["n_epochs"] is not None and r["n_epochs"] >= 2]
        for desc in (False, True):
            expected = _expected_order(filtered, "eta", desc)
            sort = "-eta" if desc else "eta"
            for offset in range(len(filtered) + 1):
                page = repo.list_sources(s, sort=sort, limit=2, offset=offset, n_epochs_min=2)
                assert page.total == len(filtered)
                assert [i["id"] for i in page.items] == expected[offset : offset + 2]
        items = repo.list_sources(s, sort="-eta", limit=10).items
        measured = {r["id"] for r in records if r["n_epochs"] is not None}
        assert {i["id"] for i in items if i["variability"] is not None} == measured
        assert "sum_w" not in next(i for i in items if i["variability"])["variability"]


def test_sorted_one_table_lists_put_missing_values_last(factory) -> None:
    with session_scope(factory) as s:
        run_ids = [repo.create_job(s, job_type="image").run_id for _ in range(7)]
    with session_scope(factory) as s:
        for k, run_id in enumerate(run_ids):
            if k % 2 == 0:
                repo.start_job(s, run_id)
                repo.finish_job(s, run_id)
    with session_scope(factory) as s:
        every = repo.list_jobs(s, limit=100).items
        records = [{"id": j["id"], "started_at": j["started_at"]} for j in every]
        assert sum(r["started_at"] is None for r in records) == 3
        for desc in (False, True):
            expected = _expected_order(records, "started_at", desc)
            sort = "-started_at" if desc else "started_at"
            for limit in (1, 3, 5):
                for offset in range(9):
                    page = repo.list_jobs(s, sort=sort, limit=limit, offset=offset)
                    assert [j["id"] for j in page.items] == expected[offset : offset + limit]


def test_a_declared_filter_checks_its_value_once_for_every_caller(factory) -> None:
    with session_scope(factory) as s:
        image_id = _image(s)
        repo.register_image(
            s, path="/data/images/b.fits", mjd_obs=61008.5, ra_deg=0, dec_deg=0,
            size_x=1, size_y=1, cell_arcsec=1, image_type="image-pb", noise_jy=5e-3,
        )  # fmt: skip
    with session_scope(factory) as s:
        # The page and the export query apply the same filters to the same rows.
        for filters in (
            {"ms_path": "/data/ms/a.ms"},
            {"noise_max_jy": 2e-3},
            {"mjd_min": 61008.0},
            {"image_type": "image-pb", "status": "ok"},
            {},
        ):
            page = repo.list_images(s, sort="id", **filters)
            rows = s.execute(repo.IMAGES.select(**filters).order_by(repo.SORTABLE["images"]["id"]))
            assert [i["id"] for i in page.items] == [r.id for r in rows.scalars()], filters
        assert [i["id"] for i in repo.list_images(s, ms_path="/data/ms/a.ms").items] == [image_id]
        assert repo.list_images(s, noise_max_jy=2e-3).total == 1
        # Out of bounds, of the wrong type or an unknown state: refused before any query.
        for bad in (
            {"noise_max_jy": 0.0},
            {"noise_max_jy": float("nan")},
            {"mjd_min": -1.0},
            {"mjd_max": "soon"},
            {"pbcor": "yes"},
            {"status": "bogus"},
            {"image_type": "x" * 33},
        ):
            with pytest.raises(repo.InvalidQueryError):
                repo.list_images(s, **bad)
            with pytest.raises(repo.InvalidQueryError):
                repo.IMAGES.select(**bad)
        with pytest.raises(TypeError, match="no filter 'colour'"):
            repo.list_images(s, colour="red")
        # A state is converted from its string value.
        assert repo.list_jobs(s, status="pending").total == 0


def test_the_cone_is_one_filter_of_three_parts() -> None:
    assert repo.CONE.gather({}) is None
    assert repo.CONE.gather({"ra": 1.0, "dec": 2.0, "radius_deg": 0.5}) == (1.0, 2.0, 0.5)
    with pytest.raises(repo.InvalidQueryError, match="needs ra, dec and radius_deg"):
        repo.CONE.gather({"ra": 1.0})
    assert repo.CONE.check((359.0, -90, 10)) == (359.0, -90.0, 10.0)
    for bad in ((360.0, 0.0, 1.0), (0.0, 91.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 10.5), (1, 2)):
        with pytest.raises(repo.InvalidQueryError):
            repo.CONE.check(bad)


def test_one_page_rule() -> None:
    repo.check_page(repo.MIN_LIMIT, 0)
    repo.check_page(repo.MAX_LIMIT, repo.MAX_OFFSET)
    for limit, offset in ((0, 0), (repo.MAX_LIMIT + 1, 0), (1, -1), (1, repo.MAX_OFFSET + 1)):
        with pytest.raises(repo.InvalidQueryError):
            repo.check_page(limit, offset)
    assert repo.PAGE_BOUNDS == {
        "limit": (repo.MIN_LIMIT, repo.MAX_LIMIT),
        "offset": (0, repo.MAX_OFFSET),
    }
