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


def test_params_are_bounded_in_depth_and_size(client: TestClient, writable_seed: Seed) -> None:
    ms = [writable_seed.ms_paths[0]]
    for params in (
        _nested(9),  # deeper than api_max_params_depth (8)
        {"a": [[[[[[[[[1]]]]]]]]]},
        {"blob": "x" * 20_000},  # larger than api_max_params_bytes (16 KiB)
        _nested(255),
    ):
        response = client.post(
            "/api/batch/reimage", json={"ms_paths": ms, "params": params}, headers=KEY
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_parameters"
    ok = client.post("/api/batch/reimage", json={"ms_paths": ms, "params": _nested(8)}, headers=KEY)
    assert ok.status_code == 202, ok.text


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
