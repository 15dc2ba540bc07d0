"""Image ratings over the API: a bad image leaves the light curves, metrics and candidates,
and comes back when rated good. The truth is computed here from the fluxes put in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from api_support import API_KEY, LOCAL, make_settings
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.variability.stage import update_light_curves

KEY = {"X-API-Key": API_KEY}
FLOOR = 0.015  # the conservative preset's fractional error floor
MJD = 61000.0 + np.arange(8) * 1.0
#: A steady source (0.1 % scatter) and a second one; epoch 4 is an image with a calibration
#: error that makes the first source jump threefold: a false flare.
STEADY = np.array([1.000, 1.002, 0.999, 1.001, 3.000, 0.998, 1.001, 1.000])
OTHER = np.array([0.500, 0.501, 0.499, 0.500, 0.502, 0.500, 0.499, 0.501])
ERR = 0.002
BAD_EPOCH = 4


def _eta(flux: np.ndarray, err: np.ndarray) -> float:
    """The eta statistic from its definition (weighted reduced chi-square about the mean)."""
    sigma = np.hypot(err, FLOOR * flux)
    w = 1 / sigma**2
    mean = np.sum(w * flux) / np.sum(w)
    return float(np.sum(w * (flux - mean) ** 2) / (flux.size - 1))


@pytest.fixture
def rated(tmp_path: Path):
    root = tmp_path / "data"
    url = f"sqlite:///{root / 'products.sqlite3'}"
    root.mkdir()
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with session_scope(factory) as s:
        steady = repo.register_source(s, name="J1400+5400", ra_deg=210.0, dec_deg=54.0)
        other = repo.register_source(s, name="J1401+5400", ra_deg=210.2, dec_deg=54.0)
        images = []
        for k, mjd in enumerate(MJD):
            image = repo.register_image(
                s,
                path=str(root / f"img{k}.fits"),
                mjd_obs=float(mjd),
                ra_deg=210.0,
                dec_deg=54.0,
                size_x=64,
                size_y=64,
                cell_arcsec=6.0,
            )
            images.append(image.id)
            rows = [
                {"source_id": sid, "mjd": float(mjd), "flux_jy": f, "flux_err_jy": ERR}
                | {"norm_flux_jy": f, "norm_flux_err_jy": ERR}
                for sid, f in ((steady.id, STEADY[k]), (other.id, OTHER[k]))
            ]
            repo.add_photometry(s, image.id, rows)
            update_light_curves(
                s,
                [steady.id, other.id],
                np.array([STEADY[k], OTHER[k]]),
                np.array([ERR, ERR]),
                float(mjd),
                preset="conservative",
            )
        ids = (steady.id, other.id)
    app = create_app(make_settings(root, url, variability_preset="conservative"))
    with TestClient(app, client=LOCAL) as client:
        yield client, images, ids


def _light_curve(client: TestClient, source_id: int) -> list[dict]:
    response = client.get(f"/api/sources/{source_id}/lightcurve")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["points"] if isinstance(body, dict) and "points" in body else body


def _candidates(client: TestClient, source_id: int) -> list[dict]:
    return client.get("/api/candidates", params={"source_id": source_id}).json()["items"]


def test_a_bad_image_leaves_light_curves_metrics_and_candidates(rated) -> None:
    client, images, (steady, other) = rated
    assert len(_light_curve(client, steady)) == MJD.size
    assert [c["kind"] for c in _candidates(client, steady)], "the false flare is a candidate"
    before = client.get(f"/api/sources/{steady}").json()

    response = client.post(
        f"/api/images/{images[BAD_EPOCH]}/rating",
        json={"rating": "bad", "comment": "phase calibration failed"},
        headers=KEY,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["n_sources"] == 2 and result["withdrawn_candidates"]
    keep = np.arange(MJD.size) != BAD_EPOCH
    points = _light_curve(client, steady)
    assert [p["mjd"] for p in points] == pytest.approx(MJD[keep].tolist())
    assert client.get(f"/api/images/{images[BAD_EPOCH]}").json()["rating"] == "bad"
    metrics = client.get(f"/api/sources/{steady}/variability").json()
    assert metrics["n_epochs"] == keep.sum()
    assert metrics["mean_flux_jy"] == pytest.approx(STEADY[keep].mean(), rel=1e-9)
    assert metrics["eta"] == pytest.approx(_eta(STEADY[keep], np.full(keep.sum(), ERR)), rel=1e-6)
    assert _candidates(client, steady) == []
    # GraphQL's light curves are the same.
    query = f"{{ source(id: {steady}) {{ lightCurve {{ mjd }} }} }}"
    data = client.post("/api/graphql", json={"query": query}).json()["data"]
    assert len(data["source"]["lightCurve"]) == keep.sum()
    # So is the light-curve export.
    export = client.get(f"/api/export/lightcurve/{steady}", params={"format": "csv"})
    assert export.text.strip().count("\n") == keep.sum()

    response = client.post(
        f"/api/images/{images[BAD_EPOCH]}/rating", json={"rating": "good"}, headers=KEY
    )
    assert response.status_code == 200, response.text
    assert len(_light_curve(client, steady)) == MJD.size
    metrics = client.get(f"/api/sources/{steady}/variability").json()
    assert metrics["n_epochs"] == MJD.size
    assert metrics["eta"] == pytest.approx(_eta(STEADY, np.full(MJD.size, ERR)), rel=1e-6)
    assert [c["kind"] for c in _candidates(client, steady)]
    history = client.get(f"/api/images/{images[BAD_EPOCH]}/ratings").json()
    assert [(h["value"], h["text"]) for h in history] == [
        ("bad", "phase calibration failed"),
        ("good", None),
    ]
    assert before["name"] == "J1400+5400"


def test_a_vetted_candidate_stays_when_its_image_is_rated_bad(rated) -> None:
    client, images, (steady, _) = rated
    cid = _candidates(client, steady)[0]["id"]
    client.post(f"/api/candidates/{cid}/comments", json={"text": "look"}, headers=KEY)
    client.post(f"/api/images/{images[BAD_EPOCH]}/rating", json={"rating": "bad"}, headers=KEY)
    assert [c["id"] for c in _candidates(client, steady)] == [cid]


def test_bad_ratings_are_refused(rated) -> None:
    client, images, _ = rated
    for body, status in (
        ({"rating": "awful"}, 422),
        ({"rating": "bad", "comment": "x" * 5000}, 422),
    ):
        response = client.post(f"/api/images/{images[0]}/rating", json=body, headers=KEY)
        assert response.status_code == status and "error" in response.json()
    assert (
        client.post("/api/images/999999/rating", json={"rating": "bad"}, headers=KEY).status_code
        == 404
    )
    assert client.post(f"/api/images/{images[0]}/rating", json={"rating": "bad"}).status_code == 401
