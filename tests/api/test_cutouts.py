"""Cutouts: the PNG of an image's pixels around a position, found through the image's WCS."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_support import LOCAL, Seed, make_settings
from astropy.io import fits
from astropy.wcs import WCS
from fastapi.testclient import TestClient
from matplotlib import image as mpimg

from dsa110_contimg.api import create_app
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo

CELL_DEG = 6 / 3600
SOURCE_PIXEL = (90, 40)  # x, y (0-based): off-centre, so a wrong WCS would miss it


def _image_with_a_source(seed: Seed, folder: Path) -> tuple[int, float, float]:
    """Register a 128 x 128 SIN image with a point-like source (its file in ``folder``).

    Returns the image's id and the source's RA and Dec (deg).
    """
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [210.0, 54.6]
    wcs.wcs.cdelt = [-CELL_DEG, CELL_DEG]
    wcs.wcs.crpix = [65, 65]
    y, x = np.mgrid[:128, :128]
    data = np.random.default_rng(2).normal(0, 1e-3, (128, 128))
    data += np.exp(-((x - SOURCE_PIXEL[0]) ** 2 + (y - SOURCE_PIXEL[1]) ** 2) / 2.0)
    path = folder / "cutout-test.fits"
    fits.PrimaryHDU(data[None, None].astype(np.float32), header=wcs.to_header()).writeto(path)
    ra, dec = wcs.all_pix2world([SOURCE_PIXEL[0]], [SOURCE_PIXEL[1]], 0)
    engine = make_engine(seed.url)
    with session_scope(make_session_factory(engine)) as s:
        image = repo.register_image(
            s,
            path=str(path),
            image_type="image",
            mjd_obs=61010.0,
            ra_deg=210.0,
            dec_deg=54.6,
            size_x=128,
            size_y=128,
            cell_arcsec=6.0,
        )
        image_id = image.id
    engine.dispose()
    return image_id, float(ra[0]), float(dec[0])


@pytest.fixture
def cutouts(writable_seed: Seed, tmp_path: Path) -> Iterator[tuple[TestClient, int, float, float]]:
    """A client whose data root holds a new image with a source, its id, the source's RA, Dec."""
    image_id, ra, dec = _image_with_a_source(writable_seed, tmp_path)
    app = create_app(make_settings(tmp_path, writable_seed.url))
    with TestClient(app, client=LOCAL) as client:
        yield client, image_id, ra, dec


def test_cutout_is_centred_on_the_position(cutouts) -> None:
    client, image_id, ra, dec = cutouts
    response = client.get(f"/api/images/{image_id}/cutout.png?ra={ra}&dec={dec}&radius_arcmin=1")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    pixels = mpimg.imread(io.BytesIO(response.content))
    assert pixels.shape[:2] == (20, 20)  # 2 arcmin of 6 arcsec pixels
    # the stretch saturates the source's few brightest pixels: their centroid
    brightness = pixels[..., :3].sum(axis=2)
    rows, cols = np.nonzero(brightness > 0.9 * brightness.max())
    assert abs(rows.mean() - 9.5) <= 1 and abs(cols.mean() - 9.5) <= 1


def test_cutout_defaults_to_the_image_centre(cutouts) -> None:
    client, image_id, _, _ = cutouts
    response = client.get(f"/api/images/{image_id}/cutout.png?radius_arcmin=0.5")
    assert response.status_code == 200
    assert mpimg.imread(io.BytesIO(response.content)).shape[:2] == (10, 10)


def test_cutout_errors(cutouts, writable_seed: Seed) -> None:
    client, image_id, ra, dec = cutouts
    far = client.get(f"/api/images/{image_id}/cutout.png?ra=10&dec=-30")
    assert far.status_code == 404 and far.json()["error"]["code"] == "not_covered"
    for query in ("ra=400&dec=0", "ra=10", "dec=10", "ra=10&dec=0&radius_arcmin=0", "ra=nan&dec=0"):
        assert client.get(f"/api/images/{image_id}/cutout.png?{query}").status_code == 422
    assert client.get(f"/api/images/999999/cutout.png?ra={ra}&dec={dec}").status_code == 404
    missing = writable_seed.image_ids[1]  # registered, file deleted
    assert client.get(f"/api/images/{missing}/cutout.png?ra={ra}&dec={dec}").status_code == 404
