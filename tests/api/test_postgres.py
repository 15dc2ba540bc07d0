"""The API over PostgreSQL: the same reads, writes and events as on SQLite."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from api_support import API_KEY, LOCAL, make_settings, seed
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app

pytestmark = pytest.mark.postgres


def test_reads_writes_and_exports_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    seeded = seed(tmp_path / "data", postgres_url)
    app = create_app(make_settings(seeded.root, postgres_url))
    with TestClient(app, client=LOCAL) as client:
        assert client.get("/api/stats").json()["photometry_rows"] == 15
        cone = client.get("/api/sources?ra=210&dec=54.6&radius_deg=0.5&sort=-eta").json()
        assert cone["total"] == 5 and cone["items"][0]["variability"]["eta"] == 6.0
        curve = client.get(f"/api/sources/{seeded.source_ids[1]}/lightcurve").json()
        assert curve["n_points"] == 3
        ms = client.get(f"/api/ms/{quote(seeded.ms_paths[0], safe='')}/calibrator-matches")
        assert ms.json()["calibrator"] == "3C286"
        assert client.get("/api/images/999999").status_code == 404
        assert client.get("/api/jobs?status=sleeping").status_code == 422
        before = client.get("/api/jobs?job_type=batch").json()["total"]
        created = client.post(
            "/api/batch/reprocess",
            json={"group_ids": seeded.groups},
            headers={"X-API-Key": API_KEY},
        )
        assert created.status_code == 202
        assert client.get("/api/jobs?job_type=batch").json()["total"] == before + 1
        assert len(client.get("/api/export/photometry?format=json").json()) == 15
        with client.websocket_connect("/api/ws?topics=job:*&since=0") as ws:
            assert ws.receive_json()["type"] == "subscribed"
            assert ws.receive_json()["topic"].startswith("job:")


def test_nul_byte_is_not_a_server_error_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    seeded = seed(tmp_path / "data", postgres_url)
    with TestClient(create_app(make_settings(seeded.root, postgres_url)), client=LOCAL) as c:
        assert c.get("/api/jobs/abc%00def").status_code in (404, 422)
        assert c.get("/api/images?image_type=%00").status_code in (200, 422)
