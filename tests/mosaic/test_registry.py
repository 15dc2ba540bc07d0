"""The mosaic's rows, the API's view of it, refusals and failures that leave nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.cli import main
from dsa110_contimg.errors import InputDataError, ProductExistsError
from dsa110_contimg.mosaic import make_mosaic
from dsa110_contimg.mosaic import stage as mosaic_stage
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.models import Mosaic, MosaicTile

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from api_support import LOCAL, make_settings  # noqa: E402


@pytest.fixture
def factory(tiles: dict):
    engine = make_engine(tiles["settings"].db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _window(tiles: dict) -> dict[str, float]:
    mjds = [im["mjd"] for im in tiles["images"]]
    return {"mjd_start": min(mjds) - 1e-4, "mjd_end": max(mjds) + 1e-4}


def test_rows_complete_and_served_by_the_api(built: dict, factory) -> None:
    result, ids = built["result"], sorted(im["id"] for im in built["images"])
    with session_scope(factory) as s:
        row = s.get(Mosaic, built["id"])
        assert row.name == "strip" and row.path == result.path
        assert row.noise_jy == pytest.approx(result.noise_jy) and row.noise_jy > 0
        assert (row.size_x, row.size_y) == (result.size_x, result.size_y)
        assert row.preview_path == result.preview_path
        assert row.mjd_start <= row.mjd_end
        tiles = s.scalars(sa.select(MosaicTile).where(MosaicTile.mosaic_id == row.id)).all()
        assert sorted(t.image_id for t in tiles) == ids
        assert all(0 < t.weight < 1 for t in tiles)
        assert sum(t.weight for t in tiles) == pytest.approx(1.0)
    settings = built["settings"]
    app = create_app(make_settings(settings.data_root, settings.db_url))
    with TestClient(app, client=LOCAL) as client:
        detail = client.get(f"/api/mosaics/{built['id']}")
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["name"] == "strip" and body["noise_jy"] == pytest.approx(result.noise_jy)
        assert sorted(t["image_id"] for t in body["tiles"]) == ids
        served = client.get(f"/api/mosaics/{built['id']}/fits")
        assert served.status_code == 200 and served.content == Path(result.path).read_bytes()


def test_same_name_refused(built: dict, factory, tmp_path: Path) -> None:
    with pytest.raises(ProductExistsError, match="already registered"):
        make_mosaic(factory, "strip", tmp_path, **_window(built))
    assert not list(tmp_path.iterdir())
    with session_scope(factory) as s:
        assert s.scalar(sa.select(sa.func.count()).where(Mosaic.name == "strip")) == 1


def test_empty_selections_refused(tiles: dict, factory, tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="no pb-corrected images"):
        make_mosaic(factory, "empty", tmp_path, mjd_start=1.0, mjd_end=2.0)
    # the strip is at +30.5 deg: a strip above it holds nothing
    with pytest.raises(InputDataError, match="no pb-corrected images"):
        make_mosaic(factory, "north", tmp_path, dec_min=60.0, dec_max=70.0, **_window(tiles))
    with pytest.raises(InputDataError, match="not pb-corrected images"):
        make_mosaic(factory, "unknown", tmp_path, image_ids=[tiles["images"][0]["id"], 999999])
    assert not list(tmp_path.iterdir())


def test_image_ids_select_tiles(tiles: dict, factory, tmp_path: Path) -> None:
    first = tiles["images"][0]["id"]
    _, result = make_mosaic(factory, "one-tile", tmp_path, image_ids=[first], cell_arcsec=120.0)
    assert result.tile_weights == {first: pytest.approx(1.0)}


@pytest.mark.parametrize("where", ["preview", "register"])
def test_failure_midway_leaves_nothing(
    tiles: dict, factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError(f"{where} broke")

    if where == "preview":
        monkeypatch.setattr("dsa110_contimg.mosaic.build.write_previews", broken)
    else:
        monkeypatch.setattr(mosaic_stage.repo, "register_mosaic", broken)
    name = f"broken-{where}"
    with pytest.raises(RuntimeError, match="broke"):
        make_mosaic(factory, name, tmp_path, cell_arcsec=120.0, **_window(tiles))
    assert not list(tmp_path.iterdir())  # neither final nor temporary files
    with session_scope(factory) as s:
        assert s.scalar(sa.select(Mosaic.id).where(Mosaic.name == name)) is None


def test_cli(tiles: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from astropy.time import Time

    settings = tiles["settings"]
    monkeypatch.setenv("DSA110_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("DSA110_DB_URL", settings.db_url)
    window = _window(tiles)
    start, end = (Time(window[k], format="mjd").isot for k in ("mjd_start", "mjd_end"))
    args = ["mosaic", "cli-strip", "--start", start, "--end", end, "--cell", "120"]
    runner = CliRunner()
    result = runner.invoke(main, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "cli-strip" in result.output and str(tmp_path / "cli-strip.fits") in result.output
    again = runner.invoke(main, [*args, "--out", str(tmp_path)])
    assert again.exit_code == ProductExistsError.exit_code and "already registered" in again.output
    nothing = runner.invoke(
        main, ["mosaic", "none", "--start", "2000-01-01", "--end", "2000-01-02"]
    )
    assert nothing.exit_code == InputDataError.exit_code
