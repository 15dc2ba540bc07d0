"""Image QA on synthetic FITS images: known noise, known sources, graded by the thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.qa import QAThresholds, image_qa, robust_rms

N, CELL = 512, 6.0 / 3600
BMAJ = BMIN = 30.0 / 3600


def _header() -> fits.Header:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150.0, 40.0]
    w.wcs.crpix = [N / 2 + 1, N / 2 + 1]
    w.wcs.cdelt = [-CELL, CELL]
    header = w.to_header()
    header.update(BMAJ=BMAJ, BMIN=BMIN, BPA=0.0, BUNIT="JY/BEAM")
    return header


def _write(tmp_path: Path, rms: float, fluxes: np.ndarray, scale: float, seed: int = 1):
    """Flat image (noise + Gaussian beams), unit beam, pb image = flat; sources scaled by ``scale``."""
    rng = np.random.default_rng(seed)
    header = _header()
    wcs = WCS(header)
    data = rng.normal(0, rms, (N, N))
    yy, xx = np.mgrid[:N, :N]
    sigma = BMAJ / CELL / np.sqrt(8 * np.log(2))
    k = np.arange(fluxes.size)
    px = 80 + (k % 6) * 70.0 + 0.3
    py = 80 + (k // 6) * 70.0 - 0.2
    for x, y, f in zip(px, py, fluxes, strict=True):
        data += scale * f * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    ra, dec = wcs.wcs_pix2world(px, py, 0)
    paths = {}
    for name, array in (("image", data), ("pb", data), ("beam", np.ones((N, N)))):
        paths[name] = str(tmp_path / f"{name}.fits")
        fits.writeto(paths[name], array.astype(np.float32), header, overwrite=True)
    return paths, ra, dec


def test_robust_rms_ignores_sources() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(0, 2.0, 200_000)
    values[:2000] += 500.0  # 1% bright pixels
    assert robust_rms(values) == pytest.approx(2.0, rel=0.02)
    assert np.isnan(robust_rms(np.full(10, np.nan)))


def test_good_image(tmp_path: Path) -> None:
    fluxes = np.linspace(0.06, 1.0, 12)
    paths, ra, dec = _write(tmp_path, 0.002, fluxes, 1.0)
    qa = image_qa(
        paths["image"], paths["pb"], paths["beam"],
        catalog_ra_deg=ra, catalog_dec_deg=dec, catalog_flux_jy=fluxes,
    )  # fmt: skip
    assert qa.rms_jy == pytest.approx(0.002, rel=0.05)
    assert qa.rms_map_median_jy == pytest.approx(0.002, rel=0.1)
    assert qa.peak_jy == pytest.approx(1.0, rel=0.02)
    assert qa.dynamic_range == pytest.approx(500, rel=0.06)
    assert qa.beam_major_arcsec == pytest.approx(30.0)
    assert qa.flux_ratio_median == pytest.approx(1.0, abs=0.02)
    assert qa.astrometry_median_arcsec < 1.0
    assert qa.completeness == 1.0 and qa.n_completeness == 12
    assert qa.grade == "good", qa.reasons
    json.dumps(qa.as_dict(), allow_nan=False)


def test_flux_scale_off_fails(tmp_path: Path) -> None:
    fluxes = np.linspace(0.06, 1.0, 12)
    paths, ra, dec = _write(tmp_path, 0.002, fluxes, 0.6)
    qa = image_qa(
        paths["image"], paths["pb"], paths["beam"],
        catalog_ra_deg=ra, catalog_dec_deg=dec, catalog_flux_jy=fluxes,
    )  # fmt: skip
    assert qa.flux_ratio_median == pytest.approx(0.6, abs=0.02)
    assert qa.grade == "fail" and any("flux ratio" in r for r in qa.reasons)


def test_noisy_image_fails_and_no_catalog_warns(tmp_path: Path) -> None:
    paths, _, _ = _write(tmp_path, 0.03, np.array([1.0]), 1.0)
    qa = image_qa(paths["image"], paths["pb"], paths["beam"])
    assert qa.grade == "fail" and any("rms" in r for r in qa.reasons)
    paths, _, _ = _write(tmp_path, 0.002, np.array([1.0]), 1.0)
    qa = image_qa(paths["image"], paths["pb"], thresholds=QAThresholds(rms_max_jy=1.0))
    assert qa.grade == "warn" and "unchecked" in qa.reasons[0]
