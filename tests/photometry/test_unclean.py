"""Forced fluxes of sources WSClean did not clean, measured against the truth.

The images are built like WSClean's products from a known sky: a DSA-110
snapshot dirty beam (the surveyed pads), its fitted restoring beam, sources
at known fluxes and sub-pixel positions, bright ones cleaned (restored as the
Gaussian), faint ones left in the residual with the dirty beam's shape, some
in between partly cleaned; noise = white noise convolved with the restoring
beam, in the residual; a primary beam divides image and residual. Written as
``-image-pb``, ``-residual``, ``-psf`` and ``-beam`` FITS files and measured
through :func:`~dsa110_contimg.photometry.unclean.corrected_pb_image`.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from photometry_sims import (
    add_dirty_sources,
    add_sources_sky,
    correlated_noise,
    fit_restoring_beam,
    make_wcs,
    snapshot_psf,
    write_fits,
)

from dsa110_contimg.photometry.beam import load_image
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import forced_photometry
from dsa110_contimg.photometry.unclean import corrected_pb_image, psf_response, sibling

N_PIX, CELL, RMS = 384, 6.0, 1e-3
N_SOURCES, N_EPOCHS = 60, 16
ROBUST = 1.0  # between natural and uniform, like Briggs 0.5; with the tier's uv > 1000 lambda cut
SNR_BINS = ((10, 30), (30, 100), (100, 3000))
VETO = PhotFlag.BLENDED | PhotFlag.NEAR_EDGE | PhotFlag.NO_DATA | PhotFlag.BAD_NOISE


def _write_epoch(tmp_path, seed: int, psf: np.ndarray, beam) -> tuple:
    """One epoch's WSClean-like products; returns (pb image path, ra, dec, true flux)."""
    rng = np.random.default_rng(seed)
    wcs = make_wcs(N_PIX, CELL)
    xy = rng.uniform(30, N_PIX - 30, (N_SOURCES, 2))
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    flux = 10 ** rng.uniform(-2, 0, ra.size)  # 10 mJy - 1 Jy: SNR ~ 10-1000
    yy, xx = np.mgrid[0:N_PIX, 0:N_PIX] - N_PIX / 2
    primary = np.exp(-0.5 * (xx**2 + yy**2) / 200.0**2)  # 0.4 at the corners
    apparent = flux * np.exp(-0.5 * np.sum((xy - N_PIX / 2) ** 2, 1) / 200.0**2)
    snr = apparent / RMS
    # WSClean-like cleaning: bright sources down to 3 rms, middling ones partly, faint not at all
    cleaned = np.where(snr >= 200, apparent - 3 * RMS, 0.0)
    middle = (snr >= 50) & (snr < 200)
    cleaned[middle] = apparent[middle] * rng.uniform(0.3, 0.9, middle.sum())
    residual = correlated_noise((N_PIX, N_PIX), wcs, beam, RMS, rng)
    add_dirty_sources(residual, psf, wcs, ra, dec, apparent - cleaned)
    image = residual.copy()
    add_sources_sky(image, wcs, beam, ra, dec, cleaned)
    pb_path = tmp_path / f"e{seed}-image-pb.fits"
    write_fits(pb_path, image / primary, wcs, beam)
    write_fits(sibling(pb_path, "residual"), residual, wcs, beam)
    write_fits(sibling(pb_path, "beam"), primary, wcs, beam)
    write_fits(sibling(pb_path, "psf"), psf, wcs, beam)
    return pb_path, ra, dec, flux


def _ratios(results: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    ratio, snr = [], []
    for res, flux in results:
        ok = ((res.flags & VETO) == 0) & (flux / res.flux_err_jy >= 10)
        ratio.append(res.flux_jy[ok] / flux[ok])
        snr.append(flux[ok] / res.flux_err_jy[ok])
    return np.concatenate(ratio), np.concatenate(snr)


def _by_bin(ratio: np.ndarray, snr: np.ndarray) -> list[tuple[float, int]]:
    return [
        (float(np.median(ratio[(snr >= lo) & (snr < hi)])), int(((snr >= lo) & (snr < hi)).sum()))
        for lo, hi in SNR_BINS
    ]


def test_uncleaned_flux_restored_by_psf_response(tmp_path) -> None:
    """Before: uncleaned sources read low by the PSF response; after: within 1% in every SNR bin."""
    psf = snapshot_psf(N_PIX, CELL, ROBUST)
    beam = fit_restoring_beam(psf, CELL)
    wcs = make_wcs(N_PIX, CELL)
    response = psf_response(psf, wcs, beam)
    before, after = [], []
    for seed in range(N_EPOCHS):
        path, ra, dec, flux = _write_epoch(tmp_path, seed, psf, beam)
        data, wcs, beam_read, _ = load_image(str(path))
        before.append((forced_photometry(data, wcs, beam_read, ra, dec), flux))
        fixed, used = corrected_pb_image(path, data, beam_read)
        assert used == pytest.approx(response, rel=1e-6)
        after.append((forced_photometry(fixed, wcs, beam_read, ra, dec), flux))
    r_before, snr_before = _ratios(before)
    r_after, snr_after = _ratios(after)
    bins_before, bins_after = _by_bin(r_before, snr_before), _by_bin(r_after, snr_after)
    print(f"PSF response r = {response:.4f}; beam {beam}")
    print(f"median forced/true before {np.median(r_before):.4f}, after {np.median(r_after):.4f}")
    for (lo, hi), b, a in zip(SNR_BINS, bins_before, bins_after, strict=True):
        print(f"  SNR {lo}-{hi}: before {b[0]:.4f} (n={b[1]}), after {a[0]:.4f} (n={a[1]})")
    assert r_after.size > 600
    # before: the faint (uncleaned) bin is read at about r, the bright (cleaned) one right
    assert bins_before[0][0] < 0.99
    assert abs(bins_before[2][0] - 1) < 0.01
    # after: within 1% overall and in every bin; no trend with SNR
    assert abs(np.median(r_after) - 1) < 0.01
    for median, n in bins_after:
        assert n >= 150
        assert abs(median - 1) < 0.01
    # trend: the spread of the bin medians from faint (10 sigma) to bright
    medians = [m for m, _ in bins_after]
    assert max(medians) - min(medians) < 0.01
    assert (max(m for m, _ in bins_before) - min(m for m, _ in bins_before)) > 0.01


def test_no_siblings_leaves_the_image(tmp_path) -> None:
    """Without the residual, PSF and beam files the pb image is measured as it is."""
    wcs = make_wcs(64, CELL)
    beam = fit_restoring_beam(snapshot_psf(64, CELL), CELL)
    path = tmp_path / "lone-image-pb.fits"
    write_fits(path, np.ones((64, 64)), wcs, beam)
    data = fits.getdata(path).astype(float)
    fixed, used = corrected_pb_image(path, data, beam)
    assert used is None and fixed is data


def test_psf_equal_to_restoring_beam_has_response_one() -> None:
    wcs = make_wcs(128, CELL)
    beam = fit_restoring_beam(snapshot_psf(128, CELL), CELL)
    gauss = np.zeros((128, 128))
    add_sources_sky(gauss, wcs, beam, *wcs.wcs_pix2world([64.0], [64.0], 0), np.ones(1))
    assert psf_response(gauss, wcs, beam) == pytest.approx(1.0, abs=1e-6)
