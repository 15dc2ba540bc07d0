"""Every read endpoint: the happy path, 404 for unknown ids, 422 for bad parameters."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient
from pydantic import BaseModel

from dsa110_contimg.api import create_app
from dsa110_contimg.api.routes import cal, candidates, groups, images, jobs, mosaics, ms, sources
from dsa110_contimg.api.routes.sources import LightCurve
from dsa110_contimg.products import make_engine, make_session_factory, models
from dsa110_contimg.products import repositories as repo


def enc(path: str) -> str:
    return quote(path, safe="")


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def assert_page(body: dict, total: int, limit: int = 50, offset: int = 0) -> list:
    assert (body["total"], body["limit"], body["offset"]) == (total, limit, offset)
    return body["items"]


def test_health_and_stats(read_client: TestClient) -> None:
    assert read_client.get("/api/health").json()["status"] == "ok"
    detailed = read_client.get("/api/health/detailed").json()
    assert detailed["database"]["ok"] and detailed["worker"]["ok"]
    stats = read_client.get("/api/stats").json()
    assert stats["images"] == 3 and stats["sources"] == 6 and stats["photometry_rows"] == 15
    assert stats["ms_by_stage"] == {"converted": 1, "imaged": 1}
    assert len(stats["recent_images"]) == 3


def test_groups(read_client: TestClient, template_seed: Seed) -> None:
    items = assert_page(read_client.get("/api/groups").json(), 3)
    assert [g["id"] for g in items] == sorted(template_seed.groups, reverse=True)
    assert (
        assert_page(read_client.get("/api/groups?state=failed").json(), 1)[0]["state"] == "failed"
    )
    detail = read_client.get(f"/api/groups/{template_seed.groups[0]}").json()
    assert len(detail["files"]) == 2 and detail["measurement_sets"][0]["stage"] == "imaged"
    assert_error(read_client.get("/api/groups/2000-01-01T00:00:00"), 404, "not_found")
    assert_error(read_client.get("/api/groups?state=bogus"), 422, "invalid_parameters")


def test_ms_by_encoded_path(read_client: TestClient, template_seed: Seed) -> None:
    path = template_seed.ms_paths[0]
    items = assert_page(read_client.get("/api/ms?stage=imaged").json(), 1)
    assert items[0]["path"] == path
    assert read_client.get(f"/api/ms/{enc(path)}").json()["calibrator"] == "3C286"
    assert read_client.get(f"/api/ms{path}").json()["path"] == path  # unencoded also resolves
    meta = read_client.get(f"/api/ms/{enc(path)}/metadata").json()
    assert meta["duration_s"] == pytest.approx(0.0036 * 86400) and meta["n_channels"] == 768
    assert len(meta["image_ids"]) == 2
    matches = read_client.get(f"/api/ms/{enc(path)}/calibrator-matches").json()
    assert [m["table_type"] for m in matches["matches"]] == ["bandpass"]
    assert [m["path"] for m in matches["applied"]] == [template_seed.cal_paths[0]]
    for suffix in ("", "/metadata", "/calibrator-matches"):
        assert_error(read_client.get(f"/api/ms/{enc('/etc/passwd')}{suffix}"), 404, "not_found")
    assert_error(read_client.get("/api/ms?mjd_min=-1"), 422)
    assert_error(read_client.get("/api/ms?cal_applied=maybe"), 422)


def test_cal_tables(read_client: TestClient, template_seed: Seed) -> None:
    items = assert_page(read_client.get("/api/cal?valid_at_mjd=61007.5").json(), 1)
    assert items[0]["source_ms_path"] == template_seed.ms_paths[0]
    assert assert_page(read_client.get("/api/cal?status=expired").json(), 1)
    detail = read_client.get(f"/api/cal/{enc(template_seed.cal_paths[0])}").json()
    assert detail["refant"] == "pad103"
    assert_error(read_client.get(f"/api/cal/{enc('/nope.bcal')}"), 404)
    assert_error(read_client.get("/api/cal?table_type=polarisation"), 422)


def test_images(read_client: TestClient, template_seed: Seed) -> None:
    first = template_seed.image_ids[0]
    items = assert_page(read_client.get("/api/images?sort=mjd_obs&limit=2").json(), 3, limit=2)
    assert items[0]["mjd_obs"] <= items[1]["mjd_obs"]
    assert assert_page(read_client.get("/api/images?qa_grade=good").json(), 1)[0]["id"] == first
    enc_ms = enc(template_seed.ms_paths[0])
    assert read_client.get(f"/api/images?ms_path={enc_ms}").json()["total"] == 2
    assert read_client.get("/api/images?noise_max_jy=0.0015").json()["total"] == 1
    detail = read_client.get(f"/api/images/{first}").json()
    assert detail["ms_path"] == template_seed.ms_paths[0] and detail["beam_major_arcsec"] == 30.0
    photometry = read_client.get(f"/api/images/{first}/photometry?limit=2").json()
    assert photometry["total"] == 5 and len(photometry["items"]) == 2
    for suffix in ("", "/photometry", "/fits", "/preview.png", "/thumbnail.png"):
        assert_error(read_client.get(f"/api/images/999999{suffix}"), 404)
    for bad in ("/api/images/abc", "/api/images/0", "/api/images?sort=colour",
                "/api/images?limit=0", "/api/images?limit=1001", "/api/images?offset=-1",
                "/api/images?offset=99999999999", "/api/images?noise_max_jy=nan"):  # fmt: skip
        assert_error(read_client.get(bad), 422)


def test_image_files(read_client: TestClient, template_seed: Seed) -> None:
    first, missing = template_seed.image_ids[0], template_seed.image_ids[1]
    fits = read_client.get(f"/api/images/{first}/fits")
    assert fits.status_code == 200 and fits.content.startswith(b"SIMPLE  =")
    for kind in ("preview", "thumbnail"):
        png = read_client.get(f"/api/images/{first}/{kind}.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert png.headers["content-type"] == "image/png"
    assert_error(read_client.get(f"/api/images/{missing}/fits"), 404, "file_missing")
    mosaic = read_client.get(f"/api/mosaics/{template_seed.mosaic_id}/fits")
    assert mosaic.status_code == 200


def test_sources(read_client: TestClient, template_seed: Seed) -> None:
    cone = read_client.get("/api/sources?ra=210.0&dec=54.6&radius_deg=0.5").json()
    assert cone["total"] == 5
    assert template_seed.far_source_id not in {s["id"] for s in cone["items"]}
    assert read_client.get("/api/sources?ra=210.0&dec=54.6&radius_deg=0.01").json()["total"] == 1
    ranked = read_client.get("/api/sources?eta_min=3&sort=-eta").json()
    assert [s["variability"]["eta"] for s in ranked["items"]] == [6.0, 4.0]
    assert read_client.get("/api/sources?candidates_only=true").json()["total"] == 2
    assert read_client.get("/api/sources?name=J0040").json()["total"] == 1
    src = template_seed.source_ids[1]
    detail = read_client.get(f"/api/sources/{src}").json()
    assert detail["variability"]["eta"] == 4.0 and detail["candidates"][0]["kind"] == "ese"
    assert read_client.get(f"/api/sources/{src}/variability").json()["v"] == pytest.approx(0.1)
    assert_error(read_client.get("/api/sources/999999"), 404)
    # metrics not yet computed for this source
    assert_error(read_client.get(f"/api/sources/{template_seed.source_ids[4]}/variability"), 404)
    for bad in ("ra=210", "ra=400&dec=0&radius_deg=1", "dec=95&ra=1&radius_deg=1",
                "ra=1&dec=1&radius_deg=0", "ra=1&dec=1&radius_deg=30", "eta_min=-1",
                "sort=-colour", "ra=inf&dec=1&radius_deg=1"):  # fmt: skip
        assert_error(read_client.get(f"/api/sources?{bad}"), 422)


def test_light_curve(read_client: TestClient, template_seed: Seed) -> None:
    src = template_seed.source_ids[1]
    curve = read_client.get(f"/api/sources/{src}/lightcurve").json()
    assert curve["n_points"] == 3 and curve["name"].startswith("J1400")
    mjds = [p["mjd"] for p in curve["points"]]
    assert mjds == sorted(mjds)
    assert all(p["norm_flux_jy"] == pytest.approx(0.2) for p in curve["points"])
    later = read_client.get(f"/api/sources/{src}/lightcurve?mjd_min=61007.9").json()
    assert later["n_points"] == 1
    raw = read_client.get(f"/api/sources/{src}/lightcurve?flux=raw").json()
    assert all(p["norm_flux_jy"] is None for p in raw["points"])
    assert_error(read_client.get("/api/sources/999999/lightcurve"), 404)
    assert_error(read_client.get(f"/api/sources/{src}/lightcurve?flux=log"), 422)
    assert_error(read_client.get(f"/api/sources/{src}/lightcurve?mjd_max=1e9"), 422)


@pytest.mark.parametrize("query", ["", "?flux=raw", "?mjd_min=61007.9&flux=normalised"])
def test_light_curve_body_is_its_schema(
    read_client: TestClient, template_seed: Seed, query: str
) -> None:
    # The route serialises its rows without validating them: the body must still be
    # exactly what the documented schema produces (no missing, extra or coerced field).
    response = read_client.get(f"/api/sources/{template_seed.source_ids[1]}/lightcurve{query}")
    assert response.status_code == 200
    assert LightCurve.model_validate_json(response.content).model_dump_json() == response.text


def test_light_curve_query_reads_the_index_only(template_seed: Seed) -> None:
    assert repo.LIGHT_CURVE_COLUMNS is models.LIGHT_CURVE_COLUMNS  # one definition
    engine = make_engine(template_seed.url)
    statements: list[tuple[str, tuple]] = []
    sa.event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, params, context, many: statements.append((sql, params)),
    )
    try:
        with make_session_factory(engine)() as session:
            assert len(repo.light_curve(session, template_seed.source_ids[1])) == 3
            sql, params = next(s for s in statements if "FROM photometry" in s[0])
            plan = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
            details = " ".join(row[-1] for row in plan)
    finally:
        engine.dispose()
    assert "COVERING INDEX ix_photometry_source_mjd" in details, details


LIST_PAGES = [
    ("/api/sources", sources.SourcePage),
    ("/api/sources?sort=-eta&limit=4&offset=1", sources.SourcePage),
    ("/api/sources?sort=v", sources.SourcePage),
    ("/api/sources?ra=210&dec=54.6&radius_deg=0.5&sort=-catalog_flux_jy", sources.SourcePage),
    ("/api/images?sort=-noise_jy", images.ImagePage),
    ("/api/jobs?sort=started_at", jobs.JobPage),
    ("/api/candidates", candidates.CandidatePage),
    ("/api/cal", cal.CalPage),
    ("/api/ms", ms.MSPage),
    ("/api/groups", groups.GroupPage),
    ("/api/mosaics", mosaics.MosaicPage),
]


@pytest.mark.parametrize(("path", "model"), LIST_PAGES)
def test_list_body_is_its_schema(read_client: TestClient, path: str, model: type[BaseModel]):
    # Lists serialise Core rows without validating them: the body must still be exactly
    # what the documented schema produces (no missing, extra or coerced field).
    response = read_client.get(path)
    assert response.status_code == 200 and response.json()["items"]
    assert model.model_validate_json(response.content).model_dump_json() == response.text


def test_image_photometry_body_is_its_schema(read_client: TestClient, template_seed: Seed):
    response = read_client.get(f"/api/images/{template_seed.image_ids[0]}/photometry?sort=-snr")
    assert response.status_code == 200 and response.json()["total"] == 5
    body = images.PhotometryPage.model_validate_json(response.content).model_dump_json()
    assert body == response.text


@pytest.mark.parametrize(
    ("path", "index"),
    [
        ("/api/sources?sort=-eta&offset=1", "ix_variability_metrics_eta"),
        ("/api/sources?sort=v", "ix_variability_metrics_v"),
        ("/api/sources?sort=-dec_deg", "ix_sources_dec_id"),
        ("/api/sources", None),
        ("/api/jobs?offset=1", "ix_jobs_created_id"),
        ("/api/candidates", "ix_candidates_score_id"),
        ("/api/images", "ix_images_mjd_obs"),
    ],
)
def test_list_pages_walk_an_index_in_few_queries(
    template_seed: Seed, path: str, index: str | None
) -> None:
    # A page of a sorted list must not sort the table (a temp b-tree over every row),
    # nor read rows one query at a time: a count, the page (ids), the rows.
    app = create_app(make_settings(template_seed.root, template_seed.url, api_cache_ttl_s=0))
    statements: list[tuple[str, tuple]] = []
    engine = app.state.api.engine
    sa.event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, params, context, many: statements.append((sql, params)),
    )
    with TestClient(app, client=LOCAL) as client:
        statements.clear()
        response = client.get(path)
        assert response.status_code == 200 and response.json()["items"]
        listed = [s for s in statements if "FROM events" not in s[0]]
    assert len(listed) <= 4, [s[0] for s in listed]
    details = []
    with engine.connect() as conn:
        for sql, params in listed:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            details.append(" ".join(row[-1] for row in plan))
    assert not any("TEMP B-TREE" in d for d in details), details
    if index is not None:
        assert any(f"INDEX {index}" in d for d in details), details


def test_candidates(read_client: TestClient, template_seed: Seed) -> None:
    items = assert_page(read_client.get("/api/candidates").json(), 2)
    assert [c["score"] for c in items] == [5.0, 3.0]
    assert read_client.get("/api/candidates?kind=ese").json()["total"] == 1
    assert read_client.get("/api/candidates?score_min=4").json()["total"] == 1
    one = template_seed.candidate_ids[0]
    assert read_client.get(f"/api/candidates/{one}").json()["kind"] == "ese"
    assert_error(read_client.get("/api/candidates/999999"), 404)
    assert_error(read_client.get("/api/candidates?kind=comet"), 422)


def test_jobs(read_client: TestClient, template_seed: Seed) -> None:
    run = template_seed.run_ids
    assert read_client.get("/api/jobs").json()["total"] == 4
    assert read_client.get("/api/jobs?status=pending").json()["total"] == 2
    children = read_client.get(f"/api/jobs?parent_run_id={run['done']}").json()
    assert [c["run_id"] for c in children["items"]] == [run["child"]]
    detail = read_client.get(f"/api/jobs/{run['done']}").json()
    assert detail["status"] == "succeeded" and detail["children"][0]["run_id"] == run["child"]
    prov = read_client.get(f"/api/jobs/{run['done']}/provenance").json()
    assert prov["params"] == {"niter": 1000} and prov["software_version"] == "0.1.0"
    assert prov["host"] == "node1"
    started, finished = (dt.datetime.fromisoformat(prov[k]) for k in ("started_at", "finished_at"))
    assert prov["duration_s"] == pytest.approx((finished - started).total_seconds(), abs=1e-6)
    logs = read_client.get(f"/api/jobs/{run['done']}/logs?tail=3").json()
    assert logs["lines"] == ["line 497", "line 498", "line 499"] and logs["truncated"]
    assert read_client.get(f"/api/logs/{run['done']}?tail=1").json()["lines"] == ["line 499"]
    for suffix in ("", "/provenance", "/logs"):
        assert_error(read_client.get(f"/api/jobs/no-such-run{suffix}"), 404)
    assert_error(read_client.get("/api/logs/no-such-run"), 404)
    assert_error(read_client.get(f"/api/logs/{run['pending']}"), 404, "file_not_recorded")
    assert_error(read_client.get(f"/api/jobs/{run['done']}/logs?tail=0"), 422)
    assert_error(read_client.get(f"/api/jobs/{run['done']}/logs?tail=100001"), 422)
    assert_error(read_client.get("/api/jobs?status=sleeping"), 422)


def test_qa(read_client: TestClient, template_seed: Seed) -> None:
    job_qa = read_client.get(f"/api/qa/job/{template_seed.run_ids['done']}").json()
    assert job_qa["ms"][0]["flag_fraction"] == 0.08
    assert [i["qa_grade"] for i in job_qa["ms"][0]["images"]] == ["good", "warn"]
    ms_qa = read_client.get(f"/api/qa/ms/{enc(template_seed.ms_paths[0])}").json()
    assert ms_qa["cal_tables"][0]["qa_metrics"] == {"flagged": 0.01}
    image_qa = read_client.get(f"/api/qa/image/{template_seed.image_ids[2]}").json()
    assert image_qa["qa_grade"] == "fail" and image_qa["qa_metrics"] == {"rms_ratio": 3.0}
    assert_error(read_client.get("/api/qa/job/none"), 404)
    assert_error(read_client.get(f"/api/qa/ms/{enc('/none.ms')}"), 404)
    assert_error(read_client.get("/api/qa/image/999999"), 404)
    assert_error(read_client.get("/api/qa/image/-3"), 422)


def test_mosaics(read_client: TestClient, template_seed: Seed) -> None:
    items = assert_page(read_client.get("/api/mosaics").json(), 1)
    assert items[0]["name"] == "m1"
    detail = read_client.get(f"/api/mosaics/{template_seed.mosaic_id}").json()
    assert [t["weight"] for t in detail["tiles"]] == [1.0, 0.5]
    assert_error(read_client.get("/api/mosaics/999999"), 404)
    assert_error(read_client.get("/api/mosaics/999999/fits"), 404)
    assert_error(read_client.get("/api/mosaics?mjd_min=abc"), 422)


def test_bulk_download_zip(read_client: TestClient, template_seed: Seed) -> None:
    import io
    import zipfile

    first, missing, third = template_seed.image_ids
    response = read_client.get(f"/api/images/download?ids={first}&ids={third}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["img0.fits", "img2.fits"]
    assert archive.read("img0.fits").startswith(b"SIMPLE  =")
    assert_error(read_client.get(f"/api/images/download?ids={missing}"), 404, "file_missing")
    assert_error(read_client.get("/api/images/download?ids=999999"), 404)
    assert_error(read_client.get("/api/images/download"), 422)
    assert_error(read_client.get("/api/images/download?ids=x"), 422)
    too_many = "&".join(f"ids={first}" for _ in range(101))
    assert_error(read_client.get(f"/api/images/download?{too_many}"), 422)
