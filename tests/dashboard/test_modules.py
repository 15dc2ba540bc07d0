"""The dashboard's own computations, run in the browser: coordinates, ticks, formats.

The image coordinates of the pages (``js/wcs.js``) are checked against astropy's
WCS of a FITS header as WSClean writes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from astropy.wcs import WCS
from dashboard_support import Tab

IMAGES = [
    {"id": 1, "ra_deg": 210.0, "dec_deg": 54.6, "cell_arcsec": 6.0, "size_x": 64, "size_y": 64},
    # a wide field near the pole, not square, across RA 0
    {"id": 2, "ra_deg": 0.5, "dec_deg": 85.0, "cell_arcsec": 3.0, "size_x": 4096, "size_y": 3000},
]


def run(tab: Tab, module: str, body: str, *args: Any) -> Any:
    """Evaluate ``body`` (a function of the module's exports and ``args``) in the page."""
    script = f"async (args) => {{ const m = await import('/dashboard/js/{module}'); return ({body})(m, ...args); }}"
    return tab.page.evaluate(script, list(args))


@pytest.fixture(scope="module")
def page_tab(tab: Tab) -> Tab:
    tab.open("/nowhere")  # any page of the dashboard: its origin and policy
    return tab


@pytest.mark.parametrize("image", IMAGES, ids=lambda im: f"image{im['id']}")
def test_image_coordinates_agree_with_astropy(page_tab: Tab, image: dict[str, Any]) -> None:
    nx, ny, cell = image["size_x"], image["size_y"], image["cell_arcsec"] / 3600
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [image["ra_deg"], image["dec_deg"]]
    wcs.wcs.cdelt = [-cell, cell]
    wcs.wcs.crpix = [nx / 2 + 1, ny / 2 + 1]
    x = np.array([0, nx / 2, nx - 1, 10, nx - 1, 0])
    y = np.array([0, ny / 2, ny - 1, ny - 1, 0, ny / 3])
    ra, dec = wcs.all_pix2world(x, y, 0)
    fractions = [[(xi + 0.5) / nx, 1 - (yi + 0.5) / ny] for xi, yi in zip(x, y, strict=True)]
    body = """(m, image, fractions, sky) => {
      const wcs = new m.ImageWcs(image);
      return {
        sky: fractions.map(([fx, fy]) => wcs.toSky(fx, fy)),
        back: sky.map(([ra, dec]) => wcs.toFraction(ra, dec)),
      };
    }"""
    got = run(page_tab, "wcs.js", body, image, fractions, np.c_[ra, dec].tolist())
    dra = (np.array([p["ra"] for p in got["sky"]]) - ra + 180) % 360 - 180
    np.testing.assert_allclose(dra * np.cos(np.radians(dec)), 0, atol=1e-7)
    np.testing.assert_allclose([p["dec"] for p in got["sky"]], dec, atol=1e-7)
    np.testing.assert_allclose([[p["fx"], p["fy"]] for p in got["back"]], fractions, atol=1e-9)


def test_ticks_and_formats(page_tab: Tab) -> None:
    ticks = run(
        page_tab,
        "plot.js",
        "(m) => [m.linearTicks(0, 1), m.logTicks(1, 1000), m.logTicks(0.03, 0.4)]",
    )
    assert ticks == [[0, 0.2, 0.4, 0.6, 0.8, 1], [1, 10, 100, 1000], [0.05, 0.1, 0.2]]
    body = """(m) => [m.ra(210), m.ra(359.99999), m.dec(54.65), m.dec(-0.5), m.mjdToIso(61007.5),
                     m.mjy(0.1234), m.bytes(1.5e9), m.num(1.23456e-5)]"""
    assert run(page_tab, "format.js", body) == [
        "14h00m00.0s",
        "00h00m00.0s",  # rounds up to 24h: wraps
        "+54°39′00.0″",  # 38′ 60.0″ must not appear
        "-00°30′00.0″",
        "2025-11-28 12:00:00 UTC",
        "123.4 mJy",
        "1.5 GB",
        "1.23e-5",
    ]
