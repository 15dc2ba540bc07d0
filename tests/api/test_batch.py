"""Batch operations create batch jobs with items for the pipeline; candidate verdicts."""

from __future__ import annotations

from api_support import API_KEY, Seed
from fastapi.testclient import TestClient

KEY = {"X-API-Key": API_KEY}


def _job(client: TestClient, run_id: str) -> dict:
    response = client.get(f"/api/jobs/{run_id}")
    assert response.status_code == 200
    return response.json()


def test_reprocess_groups_by_id_and_by_time_range(client: TestClient, writable_seed: Seed) -> None:
    by_id = client.post(
        "/api/batch/reprocess", json={"group_ids": writable_seed.groups[:2]}, headers=KEY
    )
    assert by_id.status_code == 202
    created = by_id.json()
    assert created["operation"] == "reprocess" and created["n_items"] == 2
    job = _job(client, created["run_id"])
    assert job["job_type"] == "batch" and job["status"] == "pending"
    assert job["requested_by"].startswith("key:")
    assert [(i["item_type"], i["item_key"]) for i in job["items"]] == [
        ("group", g) for g in writable_seed.groups[:2]
    ]
    by_range = client.post(
        "/api/batch/reprocess", json={"mjd_start": 61007.9, "mjd_end": 61008.1}, headers=KEY
    ).json()
    assert by_range["item_keys"] == [writable_seed.groups[2]]


def test_reprocess_refuses_bad_requests(client: TestClient) -> None:
    for body, status in (
        ({}, 422),
        ({"group_ids": []}, 422),
        ({"group_ids": ["g"], "mjd_start": 1, "mjd_end": 2}, 422),
        ({"mjd_start": 5}, 422),
        ({"mjd_start": 5, "mjd_end": 4}, 422),
        ({"group_ids": ["1999-01-01T00:00:00"]}, 404),
        ({"mjd_start": 1, "mjd_end": 2}, 404),
    ):
        response = client.post("/api/batch/reprocess", json=body, headers=KEY)
        assert response.status_code == status, (body, response.text)
        assert "error" in response.json()
    assert client.post("/api/batch/reprocess", content=b"{not json", headers=KEY).status_code == 422


def test_rerun_cancel_and_reimage(client: TestClient, writable_seed: Seed) -> None:
    runs = writable_seed.run_ids
    rerun = client.post("/api/batch/rerun", json={"run_ids": [runs["done"]]}, headers=KEY)
    assert rerun.status_code == 202 and rerun.json()["operation"] == "rerun"
    cancel = client.post(
        "/api/batch/cancel", json={"run_ids": [runs["pending"], runs["running"]]}, headers=KEY
    )
    assert cancel.status_code == 202
    assert _job(client, runs["pending"])["status"] == "cancelled"
    assert _job(client, runs["running"])["status"] == "running"  # the pipeline stops it
    items = _job(client, cancel.json()["run_id"])["items"]
    assert [i["status"] for i in items] == ["succeeded", "pending"]
    finished = client.post("/api/batch/cancel", json={"run_ids": [runs["done"]]}, headers=KEY)
    assert finished.status_code == 409
    unknown = client.post("/api/batch/rerun", json={"run_ids": ["nope"]}, headers=KEY)
    assert unknown.status_code == 404
    reimage = client.post(
        "/api/batch/reimage",
        json={"ms_paths": [writable_seed.ms_paths[0]], "params": {"robust": 0.5}},
        headers=KEY,
    )
    assert reimage.status_code == 202
    params = _job(client, reimage.json()["run_id"])["params"]
    assert params == {"operation": "reimage", "robust": 0.5}
    not_registered = client.post("/api/batch/reimage", json={"ms_paths": ["/etc"]}, headers=KEY)
    assert not_registered.status_code == 404
    assert client.post("/api/batch/reimage", json={"ms_paths": []}, headers=KEY).status_code == 422


def test_candidate_status_change(client: TestClient, writable_seed: Seed) -> None:
    cid = writable_seed.candidate_ids[0]
    assert client.get("/api/candidates?status=confirmed").json()["total"] == 0  # now cached
    response = client.patch(
        f"/api/candidates/{cid}", json={"status": "confirmed", "note": "real"}, headers=KEY
    )
    assert response.status_code == 200 and response.json()["note"] == "real"
    # the write published an event: the cached list is stale and not served
    assert client.get("/api/candidates?status=confirmed").json()["total"] == 1
    assert (
        client.patch(f"/api/candidates/{cid}", json={"status": "maybe"}, headers=KEY).status_code
        == 422
    )
    assert (
        client.patch("/api/candidates/999999", json={"status": "new"}, headers=KEY).status_code
        == 404
    )
    assert client.patch(f"/api/candidates/{cid}", json={"status": "new"}).status_code == 401


def _nested(depth: int) -> dict:
    params: dict = {}
    for _ in range(depth - 1):
        params = {"a": params}
    return params


def _batch_count(url: str) -> int:
    import sqlalchemy as sa

    from dsa110_contimg.products import make_engine
    from dsa110_contimg.products.models import Job

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                sa.select(sa.func.count()).select_from(Job).where(Job.job_type == "batch")
            )
    finally:
        engine.dispose()


def test_params_are_bounded_in_depth_and_size(writable_seed: Seed) -> None:
    """Over real HTTP: params the pipeline could not run with are a 422 and record nothing."""
    import httpx
    from api_support import LiveServer, make_settings

    from dsa110_contimg.api import create_app

    ms = [writable_seed.ms_paths[0]]
    group = writable_seed.groups[:1]
    steps = "convert, flag, calibrate, image, photometry"
    refused = [
        ("reimage", _nested(9), "deeper than 8"),  # api_max_params_depth
        ("reimage", {"a": [[[[[[[[[1]]]]]]]]]}, "deeper than 8"),
        ("reimage", {"blob": "x" * 20_000}, "larger than 16384"),  # api_max_params_bytes
        ("reimage", _nested(255), "deeper than 8"),
        ("reimage", _nested(8), "unknown parameter(s): a; allowed: auto_mask"),
        ("reimage", {"niter": -1}, "niter: Input should be greater than or equal to 0"),
        ("reimage", {"niter": 2.5}, "niter: Input should be a valid integer"),
        ("reimage", {"size": 3}, "size: Input should be greater than or equal to 16"),
        ("reimage", {"weight": "robust"}, "weight must be one of briggs, natural, uniform"),
        ("reimage", {"tier": "nope"}, "tier: unknown imaging tier 'nope'"),
        (
            "reimage",
            {"max_image_size": 50_000},
            "max_image_size must be an integer within 16..20000",
        ),
        ("reimage", {"blind": "yes"}, "blind must be true or false"),
        ("reimage", {"extra_args": ["-foo"]}, "unknown parameter(s): extra_args"),
        ("reimage", {"from_step": "convert"}, "a re-image starts at the image step"),
        (
            "reprocess",
            {"from_step": "mosaic"},
            f"from_step: unknown step 'mosaic': reprocess from one of {steps}",
        ),
        ("reprocess", {"from_step": "imaging"}, f"reprocess from one of {steps}"),
        ("reprocess", {"from_step": 3}, f"from_step must be one of {steps}"),
        ("reprocess", {"from_step": "image", "niter": -1}, "niter: Input should be greater"),
    ]
    app = create_app(make_settings(writable_seed.root, writable_seed.url))
    n_batches = _batch_count(writable_seed.url)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, headers=KEY) as http:
        for operation, params, message in refused:
            target = {"ms_paths": ms} if operation == "reimage" else {"group_ids": group}
            headers = {"Idempotency-Key": f"refused-{operation}"}
            response = http.post(
                f"/api/batch/{operation}", json={**target, "params": params}, headers=headers
            )
            assert response.status_code == 422, (params, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_parameters", error
            assert message in error["message"], (message, error["message"])
        assert _batch_count(writable_seed.url) == n_batches, "a refused request made a batch"
        # the same Idempotency-Key with good params: the refusals did not use it up
        for operation, target, params in (
            ("reimage", {"ms_paths": ms}, {"niter": 0, "tier": "quicklook", "weight": "natural"}),
            ("reprocess", {"group_ids": group}, {"from_step": "image", "robust": -1.0}),
            ("reprocess", {"group_ids": group}, None),  # from_step left to the pipeline
        ):
            ok = http.post(
                f"/api/batch/{operation}",
                json={**target, "params": params},
                headers={"Idempotency-Key": f"ok-{operation}-{params is None}"},
            )
            assert ok.status_code == 202, ok.text
            stored = http.get(f"/api/jobs/{ok.json()['run_id']}").json()["params"]
            assert {k: v for k, v in stored.items() if v is not None} == {
                "operation": operation,
                **(params or {}),
            }
    assert _batch_count(writable_seed.url) == n_batches + 3


def test_reprocess_without_from_step_starts_where_default_from_step_says(
    writable_seed: Seed,
) -> None:
    """Calibrate for a group whose MS has newer tables than its calibration, else convert.

    The batch carries no ``from_step``; the executor asks ``default_from_step``
    when it runs, and the step it chose is in each group's ``reprocess`` event
    and in the item's note. (The seed's groups have no raw files, so the runs
    themselves end failed at convert: only the choice is tested here.)
    """
    import httpx
    from api_support import LiveServer, make_settings

    from dsa110_contimg.api import create_app
    from dsa110_contimg.pipeline.operations import BatchExecutor
    from dsa110_contimg.pipeline.services import default_from_step
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo

    calibrated, uncalibrated, no_ms = writable_seed.groups  # MS + tables applied; MS; no MS
    settings = make_settings(writable_seed.root, writable_seed.url)
    engine = make_engine(writable_seed.url)
    factory = make_session_factory(engine)
    assert [default_from_step(factory, g) for g in writable_seed.groups] == ["convert"] * 3
    with session_scope(factory) as s:  # a table solved after the MS was calibrated
        repo.register_cal_table(
            s,
            path=str(writable_seed.root / "caltables" / "newer.gcal"),
            table_type="gain",
            set_name="newer",
            valid_start_mjd=61007.4,
            valid_end_mjd=61008.4,
            dec_deg=54.6,
        )
    with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url) as http:
        posted = http.post(
            "/api/batch/reprocess", json={"group_ids": writable_seed.groups}, headers=KEY
        )
        assert posted.status_code == 202, posted.text
        run_id = posted.json()["run_id"]
        assert "from_step" not in http.get(f"/api/jobs/{run_id}").json()["params"]
        assert BatchExecutor(settings, factory).run_next() == run_id
        events = http.get("/api/events", params={"topic": "group", "kind": "reprocess"}).json()
        chosen = {e["payload"]["group_id"]: e["payload"]["from_step"] for e in events["items"]}
        assert chosen == {calibrated: "calibrate", uncalibrated: "convert", no_ms: "convert"}
        items = http.get(f"/api/jobs/{run_id}").json()["items"]
        notes = {i["item_key"]: (i["error"] or "").split(":")[0] for i in items}
        assert notes == {
            calibrated: "from calibrate",
            uncalibrated: "from convert",
            no_ms: "from convert",
        }
    engine.dispose()


def test_reserved_params_cannot_be_overridden(client: TestClient, writable_seed: Seed) -> None:
    for path, body in (
        ("/api/batch/reimage", {"ms_paths": [writable_seed.ms_paths[0]]}),
        ("/api/batch/reprocess", {"group_ids": writable_seed.groups[:1]}),
    ):
        response = client.post(path, json={**body, "params": {"operation": "cancel"}}, headers=KEY)
        assert response.status_code == 422, response.text
        assert "operation" in response.json()["error"]["message"]
    moved = client.post(
        "/api/batch/reprocess",
        json={"group_ids": writable_seed.groups[:1], "params": {"mjd_start": 1}},
        headers=KEY,
    )
    assert moved.status_code == 422


def test_an_unserialisable_stored_row_does_not_break_the_job_list(
    client: TestClient, writable_seed: Seed
) -> None:
    """A 255-deep params dict (stored before the limits, or by another writer)."""
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo

    engine = make_engine(writable_seed.url)
    with session_scope(make_session_factory(engine)) as session:
        job = repo.create_job(session, job_type="image", params=_nested(255))
        run_id = job.run_id
    engine.dispose()
    listing = client.get("/api/jobs", params={"limit": 200})
    assert listing.status_code == 200, listing.text
    rows = {row["run_id"]: row for row in listing.json()["items"]}
    assert rows[run_id]["params"] is None  # the one value that cannot be sent
    assert len(rows) > 1 and any(r["params"] for r in rows.values())
    detail = client.get(f"/api/jobs/{run_id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["run_id"] == run_id  # params whole, or null if they cannot be sent
    provenance = client.get(f"/api/jobs/{run_id}/provenance")
    assert provenance.status_code == 200, provenance.text


def test_verdicts_record_who_gave_them(client: TestClient, writable_seed: Seed) -> None:
    candidate_id = writable_seed.candidate_ids[0]
    response = client.patch(
        f"/api/candidates/{candidate_id}", json={"status": "confirmed"}, headers=KEY
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reviewed_by"].startswith("key:") and body["reviewed_at"]
    assert API_KEY not in response.text
    again = client.get(f"/api/candidates/{candidate_id}").json()
    assert again["reviewed_by"] == body["reviewed_by"]


def test_idempotency_key_returns_the_first_batch(client: TestClient, writable_seed: Seed) -> None:
    body = {"group_ids": writable_seed.groups[:2]}
    headers = {**KEY, "Idempotency-Key": "reprocess-2026-12-04-a"}
    first = client.post("/api/batch/reprocess", json=body, headers=headers)
    assert first.status_code == 202, first.text
    again = client.post("/api/batch/reprocess", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post(
        "/api/batch/reprocess", json={"group_ids": writable_seed.groups[:1]}, headers=headers
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # a cancel sent twice: the second returns the first batch, not a 409 for finished jobs
    cancel_headers = {**KEY, "Idempotency-Key": "cancel-1"}
    run_ids = {"run_ids": [writable_seed.run_ids["pending"]]}
    cancelled = client.post("/api/batch/cancel", json=run_ids, headers=cancel_headers)
    assert cancelled.status_code == 202
    replay = client.post("/api/batch/cancel", json=run_ids, headers=cancel_headers)
    assert replay.status_code == 200 and replay.json()["run_id"] == cancelled.json()["run_id"]
    # without a key, every request makes its own batch
    plain = [client.post("/api/batch/reprocess", json=body, headers=KEY) for _ in range(2)]
    assert plain[0].json()["run_id"] != plain[1].json()["run_id"]
    bad = client.post(
        "/api/batch/reprocess", json=body, headers={**KEY, "Idempotency-Key": "x" * 200}
    )
    assert bad.status_code == 422


def test_concurrent_requests_with_one_idempotency_key_make_one_batch(
    writable_seed: Seed,
) -> None:
    """Real HTTP, requests in parallel: one 202, the others 200 with the same run id."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from api_support import LiveServer, make_settings

    from dsa110_contimg.api import create_app

    app = create_app(make_settings(writable_seed.root, writable_seed.url))
    body = {"run_ids": [writable_seed.run_ids["done"]]}
    headers = {**KEY, "Idempotency-Key": "rerun-parallel"}
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:

        def post(_: int) -> httpx.Response:
            return http.post("/api/batch/rerun", json=body, headers=headers)

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(post, range(8)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 7 + [202], [r.text for r in responses]
        assert len({r.json()["run_id"] for r in responses}) == 1
        batches = http.get("/api/jobs", params={"job_type": "batch", "limit": 200}).json()
        rerun_batches = [j for j in batches["items"] if j["idempotency_key"] == "rerun-parallel"]
        assert len(rerun_batches) == 1
