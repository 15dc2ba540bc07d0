"""Blind source finding (PyBDSF) on a synthetic FITS image, and catalog matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from photometry_sims import add_sources, correlated_noise, make_wcs, write_fits

from dsa110_contimg.errors import ToolMissingError
from dsa110_contimg.photometry import blind
from dsa110_contimg.photometry.beam import Beam

BEAM = Beam(30 / 3600, 20 / 3600, 40.0)
RMS = 1e-3


@pytest.mark.requires("bdsf")
def test_find_sources_recovers_injected(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    wcs = make_wcs(300)
    xy = np.stack(np.meshgrid(np.arange(40, 270, 45.0), np.arange(40, 270, 45.0)), -1).reshape(
        -1, 2
    )
    xy += rng.uniform(-3, 3, xy.shape)
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    flux = rng.uniform(0.02, 0.2, len(ra))  # 20-200 sigma
    image = correlated_noise((300, 300), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    add_sources(image, wcs, BEAM, ra, dec, flux)
    path = tmp_path / "tile-image-pb.fits"
    write_fits(path, image, wcs, BEAM)
    found = blind.find_sources(path)
    assert not list(tmp_path.glob("*.log"))  # PyBDSF wrote nothing beside the image
    match = blind.match_to_catalog(found, (ra, dec), radius_arcsec=6.0)
    assert len(match.detection_index) == len(ra)  # every injected source found
    assert len(match.unmatched) <= 1  # at most a noise spike above 7 sigma
    matched_flux = flux[match.catalog_index]
    got = found["flux_jy"][match.detection_index]
    assert np.median(np.abs(got / matched_flux - 1)) < 0.05
    assert np.median(match.separation_arcsec) < 2.0


def test_match_to_catalog_new_sources() -> None:
    det = np.zeros(3, blind.DETECTION_DTYPE)
    det["ra_deg"] = [10.0, 10.0 + 5 / 3600 / np.cos(np.radians(60)), 359.9999]
    det["dec_deg"] = [60.0, 60.0, 0.0]
    catalog = np.array([[10.0, 60.0], [0.0001, 0.0]])
    match = blind.match_to_catalog(det, catalog, radius_arcsec=3.0)
    assert match.detection_index.tolist() == [0, 2]
    assert match.catalog_index.tolist() == [0, 1]
    assert match.separation_arcsec == pytest.approx([0.0, 0.72], abs=0.01)  # across RA 0
    assert match.unmatched.tolist() == [1]  # 5 arcsec away: a new-source candidate
    (new,) = blind.new_sources(det, match)
    assert new["name"].startswith("DSA J004") and new["catalog"] == "blind"
    assert new["ra_deg"] == det["ra_deg"][1]


def test_missing_bdsf_raises_tool_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_bdsf(name, *args, **kwargs):
        if name == "bdsf":
            raise ImportError("No module named 'bdsf'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bdsf)
    with pytest.raises(ToolMissingError, match="pip install bdsf"):
        blind.find_sources(tmp_path / "x.fits")
