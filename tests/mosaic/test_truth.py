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


def test_tiles_of_different_beams_keep_the_true_fluxes(mixed_beams: dict) -> None:
    """A Briggs tile and a natural-weighting tile of the next group, at their common beam.

    The mosaic's beam holds both tiles' beams; the bright isolated sources'
    fluxes are the truth within the noise (5 sigma of the fit's error) plus
    the 5% the single-beam mosaic above allows for the pipeline's own
    calibration and cleaning.
    """
    result, natural = mixed_beams["result"], mixed_beams["natural"]
    header = fits.getheader(result.path)
    first = fits.getheader(mixed_beams["inputs"][0].pb_path)
    second = fits.getheader(natural.products["image-pb"])
    print(
        "beams (arcsec): briggs "
        f"{first['BMAJ'] * 3600:.1f} x {first['BMIN'] * 3600:.1f} @ {first['BPA']:.0f}, natural "
        f"{second['BMAJ'] * 3600:.1f} x {second['BMIN'] * 3600:.1f} @ {second['BPA']:.0f}, mosaic "
        f"{header['BMAJ'] * 3600:.1f} x {header['BMIN'] * 3600:.1f} @ {header['BPA']:.0f}"
    )
    assert abs(second["BMAJ"] / first["BMAJ"] - 1) > 0.05  # the beams do differ
    assert header["BMAJ"] >= max(first["BMAJ"], second["BMAJ"]) * (1 - 1e-6)
    assert header["BMIN"] >= max(first["BMIN"], second["BMIN"]) * (1 - 1e-6)

    data, wcs = _plane(result.path)
    noise, _ = _plane(result.noise_path)
    truth = mixed_beams["truth"]
    cat = true_catalog(truth, truth["groups"][19], result.freq_hz)
    x, y = wcs.world_to_pixel(SkyCoord(cat["ra_deg"] * u.deg, cat["dec_deg"] * u.deg))
    ny, nx = data.shape
    idx = np.flatnonzero((x > 10) & (x < nx - 10) & (y > 10) & (y < ny - 10))
    px, py = x[idx].round().astype(int), y[idx].round().astype(int)
    idx = idx[np.isfinite(data[py, px])]
    snr = cat["flux_jy"][idx] / noise[y[idx].round().astype(int), x[idx].round().astype(int)]
    bright = idx[snr > 50]
    phot = forced_photometry_fits(
        result.path, cat["ra_deg"][bright], cat["dec_deg"][bright], rms_map=noise
    )
    isolated = phot.flags == 0
    true = cat["flux_jy"][bright][isolated]
    found, err = phot.flux_jy[isolated], phot.flux_err_jy[isolated]
    print(f"flux ratios of {isolated.sum()} sources: {np.round(found / true, 3)}")
    assert isolated.sum() >= 3
    assert np.all(np.abs(found - true) < 5 * err + 0.05 * true), (found, true, err)


def test_noise_map_of_different_beams_is_the_weighted_tiles_rms(mixed_beams: dict) -> None:
    """In the overlap: the noise map is 1/sqrt(sum w_i) of the convolved tiles' rms, and the
    mosaic's measured rms agrees with it (as for equal beams: above by the tiles' correlated
    sidelobes, never below by more than the rms estimates' 5%)."""
    result = mixed_beams["result"]
    data, wcs = _plane(result.path)
    noise, _ = _plane(result.noise_path)
    mid = SkyCoord(result.ra_deg * u.deg, result.dec_deg * u.deg)
    yy, xx = np.mgrid[: data.shape[0], : data.shape[1]]
    disc = wcs.pixel_to_world(xx, yy).separation(mid) < 0.5 * u.deg
    disc &= np.isfinite(data)
    # the map from the tiles: each tile's (convolved) rms over its beam, combined by weight
    expected = np.zeros(data.shape)
    from reproject import reproject_interp

    for tile in mixed_beams["inputs"]:
        beam, beam_wcs = _plane(tile.beam_path)
        on_grid = reproject_interp(
            (beam, beam_wcs), wcs, shape_out=data.shape, return_footprint=False
        )
        expected += np.nan_to_num(on_grid) ** 2 / result.tile_rms_jy[tile.image_id] ** 2
    ratio_map = np.median(noise[disc] * np.sqrt(expected[disc]))
    measured = robust_rms(data[disc])
    mapped = float(np.median(noise[disc]))
    print(
        f"tiles' rms after convolution {result.tile_rms_jy}, noise map {mapped * 1e3:.2f} "
        f"mJy/beam, measured {measured * 1e3:.2f}, map x sqrt(sum w) = {ratio_map:.4f}"
    )
    assert abs(ratio_map - 1) < 0.01
    assert 0.95 < measured / mapped < 1.3
