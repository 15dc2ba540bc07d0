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
