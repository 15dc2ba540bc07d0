"""WSClean (Debian's package) images our MS with the sources where they are."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

pytestmark = pytest.mark.requires("wsclean")


def _peak(data: np.ndarray, x: float, y: float, box: int) -> tuple[float, float, float]:
    """Sub-pixel position (quadratic fit) and value of the maximum near (x, y)."""
    x0, y0 = int(round(x)), int(round(y))
    cut = data[y0 - box : y0 + box + 1, x0 - box : x0 + box + 1]
    j, i = np.unravel_index(np.argmax(cut), cut.shape)
    j, i = j + y0 - box, i + x0 - box

    def vertex(a, b, c):
        return 0.5 * (a - c) / (a - 2 * b + c)

    dx = vertex(data[j, i - 1], data[j, i], data[j, i + 1])
    dy = vertex(data[j - 1, i], data[j, i], data[j + 1, i])
    return i + dx, j + dy, float(data[j, i])


def test_sources_at_true_positions(our_ms: Path, sim_group, tmp_path: Path) -> None:
    _, truth = sim_group
    cmd = [
        "wsclean", "-quiet", "-name", str(tmp_path / "t"), "-size", "1024", "1024",
        "-scale", "4asec", "-weight", "briggs", "0", "-niter", "1000", "-mgain", "0.8",
        "-auto-threshold", "3", "-no-update-model-required", "-data-column", "DATA", str(our_ms),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    with fits.open(tmp_path / "t-image.fits") as hdul:
        header, data = hdul[0].header, hdul[0].data[0, 0]
    wcs = WCS(header).celestial
    beam_arcsec = 3600 * np.sqrt(header["BMAJ"] * header["BMIN"])
    rms = 1.4826 * np.median(np.abs(data - np.median(data)))
    src = truth["sources"]
    x, y = wcs.world_to_pixel_values(src["ra_deg"], src["dec_deg"])
    inside = (x > 20) & (x < 1003) & (y > 20) & (y < 1003)
    checked = 0
    for k in np.flatnonzero(inside):
        px, py, value = _peak(data, x[k], y[k], box=5)
        if value < 30 * rms:
            continue  # too faint (beam-attenuated) to place to a tenth of a beam
        ra, dec = wcs.pixel_to_world_values(px, py)
        dra = (ra - src["ra_deg"][k] + 180) % 360 - 180
        offset = 3600 * np.hypot(dra * np.cos(np.radians(dec)), dec - src["dec_deg"][k])
        assert offset < beam_arcsec / 10, (src["name"][k], offset, beam_arcsec)
        checked += 1
    assert checked >= 2  # the calibrator and at least one field source
