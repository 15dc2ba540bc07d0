"""A mosaic of two pipeline images against the simulator's truth.

Figures of the run this was written against (2026-12-03; printed with
``-s``): 10 isolated sources above 50 sigma, flux ratios 0.963-1.022,
offsets 0.3-2.6 arcsec (beam 116 x 30 arcsec); overlap rms 3.50 mJy/beam
against tiles of 4.47 and 4.23 and an inverse-variance prediction of 3.07
(ratio 1.14: the tiles' non-thermal noise is correlated, rho ~ 0.3).
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.photometry.forced import forced_photometry_fits
from dsa110_contimg.qa.image_qa import peak_position, robust_rms

from .conftest import true_catalog


def _plane(path: str) -> tuple[np.ndarray, WCS]:
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, float)
        wcs = WCS(hdul[0].header).celestial
    return data.reshape(data.shape[-2:]), wcs


def test_header_and_files(built: dict) -> None:
    result = built["result"]
    header = fits.getheader(result.path)
    assert header["NTILES"] == 2 and header["BUNIT"] == "Jy/beam"
    assert header["BMAJ"] > header["BMIN"] > 0
    assert header["FREQ"] == built["images"][0]["freq"]
    assert header["MJD-BEG"] <= header["MJD-END"]
    assert WCS(header).naxis == 2 and WCS(header).has_celestial
    for path in (result.noise_path, result.preview_path, result.thumbnail_path):
        assert fits.getheader(path) if path.endswith(".fits") else open(path, "rb").read(4)


def test_bright_sources_at_true_positions_and_fluxes(built: dict) -> None:
    result = built["result"]
    data, wcs = _plane(result.path)
    noise, _ = _plane(result.noise_path)
    truth = built["truth"]
    group = truth["groups"][19]
    cat = true_catalog(truth, group, result.freq_hz)
    x, y = wcs.world_to_pixel(SkyCoord(cat["ra_deg"] * u.deg, cat["dec_deg"] * u.deg))
    ny, nx = data.shape
    inside = (x > 10) & (x < nx - 10) & (y > 10) & (y < ny - 10)
    idx = np.flatnonzero(inside)
    ok = np.isfinite(data[y[idx].round().astype(int), x[idx].round().astype(int)])
    idx = idx[ok]
    snr = cat["flux_jy"][idx] / noise[y[idx].round().astype(int), x[idx].round().astype(int)]
    bright = idx[snr > 50]
    assert len(bright) >= 3, f"only {len(bright)} bright sources in the mosaic"

    phot = forced_photometry_fits(
        result.path, cat["ra_deg"][bright], cat["dec_deg"][bright], rms_map=noise
    )
    isolated = phot.flags == 0
    ratio = phot.flux_jy[isolated] / cat["flux_jy"][bright][isolated]
    print(f"flux ratios (mosaic / truth) of {isolated.sum()} sources: {np.round(ratio, 3)}")
    assert isolated.sum() >= 3
    assert np.all(np.abs(ratio - 1) < 0.05), ratio

    bmaj, bmin = (fits.getheader(result.path)[k] * 3600 for k in ("BMAJ", "BMIN"))
    offsets = []
    for i in bright[isolated]:
        found = peak_position(data, x[i], y[i], half=3)
        assert found is not None
        pos = wcs.pixel_to_world(found[0], found[1])
        true = SkyCoord(cat["ra_deg"][i] * u.deg, cat["dec_deg"][i] * u.deg)
        offsets.append(pos.separation(true).arcsec)
    offsets = np.array(offsets)
    print(f"offsets (arcsec) with beam {bmaj:.0f} x {bmin:.0f}: {np.round(offsets, 1)}")
    assert np.all(offsets < 0.1 * np.sqrt(bmaj * bmin)), offsets


def test_noise_in_the_overlap_is_the_inverse_variance_one(built: dict) -> None:
    """Measured rms in a source-clipped disc of the overlap vs each tile and the prediction.

    The prediction is ``1/sqrt(sum 1/rms_i**2)`` of the tiles' measured
    rms in the same disc; the mosaic must be below each tile's and within
    25% above it (measured: 14%). The tiles' noise is not purely thermal:
    sidelobes of the same sky, 77 s apart, are correlated between them, so
    the co-add gains less than independent noise would; it must not gain
    more than the prediction (5% margin for the rms estimates).
    """
    result = built["result"]
    data, wcs = _plane(result.path)
    noise, _ = _plane(result.noise_path)
    mid = SkyCoord(result.ra_deg * u.deg, result.dec_deg * u.deg)

    def disc(image: np.ndarray, image_wcs: WCS) -> np.ndarray:
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        sky = image_wcs.pixel_to_world(xx, yy)
        values = image[sky.separation(mid) < 0.5 * u.deg]
        return values[np.isfinite(values)]

    tile_rms = [robust_rms(disc(*_plane(im["path"]))) for im in built["images"]]
    mosaic_rms = robust_rms(disc(data, wcs))
    predicted = 1 / np.sqrt(np.sum(1 / np.square(tile_rms)))
    map_median = float(np.median(disc(noise, wcs)))
    print(
        f"overlap rms: tiles {np.round(np.array(tile_rms) * 1e3, 2)} mJy/beam, "
        f"mosaic {mosaic_rms * 1e3:.2f}, inverse-variance prediction {predicted * 1e3:.2f}, "
        f"noise map {map_median * 1e3:.2f}"
    )
    assert mosaic_rms < min(tile_rms)
    assert 0.95 < mosaic_rms / predicted < 1.25
    assert abs(map_median / predicted - 1) < 0.10  # the noise map is the prediction
