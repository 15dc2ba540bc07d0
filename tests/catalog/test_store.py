"""The catalog store: cone and strip queries against brute force, speed, atomic import."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dsa110_contimg.catalog.readers import CATALOG_DTYPE, CatalogFormatError
from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.sky import separation_deg


def synthetic_rows(n: int, seed: int = 0) -> np.ndarray:
    """Sources uniform on the sphere, power-law fluxes."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, CATALOG_DTYPE)
    for f in CATALOG_DTYPE.names[1:]:
        rows[f] = np.nan
    rows["ra_deg"] = rng.uniform(0, 360, n)
    rows["dec_deg"] = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    rows["flux_mjy"] = 2.5 + rng.pareto(1.5, n) * 3
    rows["name"] = [f"s{i}" for i in range(n)]
    return rows


@pytest.fixture(scope="module")
def store_1e5(tmp_path_factory: pytest.TempPathFactory) -> tuple[CatalogStore, np.ndarray]:
    rows = synthetic_rows(100_000)
    store = CatalogStore(tmp_path_factory.mktemp("cat") / "catalogs.sqlite3")
    store.import_rows("T", rows)
    return store, rows


@pytest.mark.parametrize(
    "ra, dec, radius",
    [
        (10, 30, 2.0),
        (359.8, 0.0, 2.0),
        (0.3, -45, 3.0),
        (180, 89, 2.0),
        (70, -88.5, 2.5),
        (200, 60, 0.3),
    ],
)
def test_cone_equals_brute_force(store_1e5, ra: float, dec: float, radius: float) -> None:
    store, rows = store_1e5
    found = store.cone("T", ra, dec, radius)
    truth = separation_deg(ra, dec, rows["ra_deg"], rows["dec_deg"]) <= radius
    assert sorted(found["name"]) == sorted(rows["name"][truth])
    assert np.all(np.diff(found["sep_deg"]) >= 0)


def test_cone_min_flux(store_1e5) -> None:
    store, rows = store_1e5
    found = store.cone("T", 100, 20, 3.0, min_flux_mjy=10.0)
    near = separation_deg(100, 20, rows["ra_deg"], rows["dec_deg"]) <= 3.0
    assert len(found) == np.sum(near & (rows["flux_mjy"] >= 10.0)) > 0


def test_strip_with_ra_wrap(store_1e5) -> None:
    store, rows = store_1e5
    found = store.strip("T", 30.0, 32.0, ra_min_deg=350.0, ra_max_deg=5.0)
    inside = (rows["dec_deg"] >= 30) & (rows["dec_deg"] <= 32)
    inside &= (rows["ra_deg"] >= 350) | (rows["ra_deg"] <= 5)
    assert sorted(found["name"]) == sorted(rows["name"][inside])


@pytest.mark.slow
def test_cone_speed_million(tmp_path: Path) -> None:
    _cone_speed(tmp_path, 1_000_000)


def test_cone_speed_quarter_million(tmp_path: Path) -> None:
    # the speed depends on the rows returned (density), not the table size:
    # 2.5e5 rows keep the test fast; the slow test and the benchmark use 1e6
    _cone_speed(tmp_path, 250_000)


def _cone_speed(tmp_path: Path, n: int) -> None:
    store = CatalogStore(tmp_path / "big.sqlite3")
    store.import_rows("NVSS", synthetic_rows(n, seed=5))
    rng = np.random.default_rng(1)
    times = []
    for ra, dec in zip(rng.uniform(0, 360, 20), rng.uniform(-80, 80, 20), strict=True):
        start = time.perf_counter()
        found = store.cone("NVSS", ra, dec, 2.0)
        times.append(time.perf_counter() - start)
        assert len(found) > 0
    assert np.median(times) < 0.050, f"median 2 deg cone {np.median(times) * 1e3:.1f} ms"


def test_failed_import_keeps_previous(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path / "c.sqlite3")
    good = tmp_path / "good.csv"
    good.write_text("name,ra_deg,dec_deg,flux_mjy\na,1,2,3\nb,4,5,6\n")
    report = store.import_file("sim", good)
    assert report.n_imported == 2 and store.catalogs() == {"sim": 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,ra_deg,dec_deg,flux_mjy\nc,1,2,3\nd,4,99,6\n")
    with pytest.raises(CatalogFormatError, match="bad.csv:3"):
        store.import_file("sim", bad)
    assert store.catalogs() == {"sim": 2}
    assert sorted(store.strip("sim", -90, 90)["name"]) == ["a", "b"]
    report = store.import_file("sim", bad, skip_bad=True)
    assert report.n_imported == 1 and len(report.problems) == 1
    assert store.strip("sim", -90, 90)["name"].tolist() == ["c"]


def test_lookup_by_names(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path / "c.sqlite3")
    rows = synthetic_rows(3)
    rows["ra_deg"] = [202.78453, 129.32491, 0.5]
    rows["dec_deg"] = [30.50916, 52.50132, -1.0]
    rows["name"] = ["J133108+303032", "x", "y"]
    store.import_rows("NVSS", rows)
    assert store.lookup("NVSS", "J133108+303032")["name"].tolist() == ["J133108+303032"]
    assert store.lookup("NVSS", "NVSS J133108+303032")["name"].tolist() == ["J133108+303032"]
    assert store.lookup("NVSS", "DSA J133108.28+303032.9")["name"].tolist() == ["J133108+303032"]
    assert store.lookup("NVSS", "J1293249+525013")["name"].tolist() == ["x"]
    assert len(store.lookup("NVSS", "J0000000+000000")) == 0
    assert len(store.lookup("NVSS", "not a name")) == 0
