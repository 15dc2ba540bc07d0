"""``GET /api/qa/beam-profile`` over real HTTP, on measurements seen through a 10% wider beam."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import LiveServer, make_settings

sys.path.insert(0, str(Path(__file__).parents[1] / "qa"))

from beam_sims import make_sky, seed_products_db  # noqa: E402

from dsa110_contimg.api import create_app  # noqa: E402


@pytest.fixture(scope="module")
def beam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("beam-api") / "data"
    (root / "state").mkdir(parents=True)
    url = f"sqlite:///{root / 'state' / 'products.sqlite3'}"
    seed_products_db(url, make_sky(truth_scale=1.1, days=4))
    with LiveServer(create_app(make_settings(root, url))) as server:
        yield server.url


def test_beam_profile_over_http(beam_server: str) -> None:
    response = httpx.get(f"{beam_server}/api/qa/beam-profile", timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["n_images"] == 160 and body["n_measurements"] > 2000
    assert body["beam_model_setting"] == "airy" and body["current_model"] is None
    radial = body["radial"]
    assert len(radial) >= 10
    assert abs(radial[0]["ratio"] - 1) < 0.02 and radial[-1]["ratio"] > 1.25
    assert all(b["ratio_err"] > 0 and b["n"] >= 5 for b in radial)
    assert all(b["gain"] > b["model_gain"] for b in radial[3:])
    for axis in ("ew", "ns"):
        assert body[axis] and max(b["ratio"] for b in body[axis]) > 1.15
    later = httpx.get(
        f"{beam_server}/api/qa/beam-profile", params={"since": 61002, "bins": 6}, timeout=60
    ).json()
    assert later["n_images"] == 80 and len(later["radial"]) == 6 and later["since_mjd"] == 61002


@pytest.mark.parametrize(
    "params",
    [
        {"since": 61003, "until": 61002},
        {"bins": 1},
        {"bins": 10_000},
        {"min_snr": "nan"},
        {"since": -5},
        {"until": "tomorrow"},
    ],
)
def test_beam_profile_bad_input_is_422(beam_server: str, params: dict) -> None:
    response = httpx.get(f"{beam_server}/api/qa/beam-profile", params=params, timeout=30)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]


def test_beam_profile_of_an_empty_range(beam_server: str) -> None:
    response = httpx.get(f"{beam_server}/api/qa/beam-profile", params={"since": 70000}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["n_measurements"] == 0 and body["radial"] == [] and body["ew"] == []
