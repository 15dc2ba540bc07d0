"""Synthetic images for the photometry tests: a SIN WCS, a beam, sources, noise."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy import signal

from dsa110_contimg.photometry.beam import Beam, pixel_covariance, sky_to_pixel_jacobian


def make_wcs(n: int = 400, cell_arcsec: float = 6.0, ra0: float = 150.0, dec0: float = 40.0) -> WCS:
    """A SIN-projection WCS, RA increasing to the left as in real images."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.crpix = [n / 2 + 1, n / 2 + 1]
    wcs.wcs.cdelt = [-cell_arcsec / 3600, cell_arcsec / 3600]
    return wcs


def add_sources(
    image: np.ndarray, wcs: WCS, beam: Beam, ra: np.ndarray, dec: np.ndarray, flux: np.ndarray
) -> None:
    """Add point sources (peak = flux, Jy/beam) shaped exactly like the beam, in place."""
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    inv = np.linalg.inv(pixel_covariance(beam, sky_to_pixel_jacobian(wcs, ra, dec)))
    half = 25
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    for i in range(len(ra)):
        xc, yc = int(round(x[i])), int(round(y[i]))
        dx, dy = xx + xc - x[i], yy + yc - y[i]
        a, b, c = inv[i, 0, 0], inv[i, 0, 1], inv[i, 1, 1]
        stamp = flux[i] * np.exp(-0.5 * (a * dx**2 + 2 * b * dx * dy + c * dy**2))
        y0, x0 = yc - half, xc - half
        ys = slice(max(y0, 0), max(min(yc + half + 1, image.shape[0]), max(y0, 0)))
        xs = slice(max(x0, 0), max(min(xc + half + 1, image.shape[1]), max(x0, 0)))
        image[ys, xs] += stamp[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]


def correlated_noise(
    shape: tuple[int, int],
    wcs: WCS,
    beam: Beam,
    rms: float,
    rng: np.random.Generator,
    scale: float = 1.0,
) -> np.ndarray:
    """White noise convolved with the beam (axes times ``scale``), rescaled to ``rms``.

    ``scale=1``: autocorrelation = beam convolved with itself (acf scale sqrt 2).
    ``scale=1/sqrt(2)``: autocorrelation = the beam (acf scale 1).
    """
    ny, nx = shape
    centre = wcs.wcs_pix2world([[nx / 2, ny / 2]], 0)[0]
    cov = pixel_covariance(beam, sky_to_pixel_jacobian(wcs, centre[:1], centre[1:]))[0] * scale**2
    inv = np.linalg.inv(cov)
    half = 20
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    kernel = np.exp(-0.5 * (inv[0, 0] * xx**2 + 2 * inv[0, 1] * xx * yy + inv[1, 1] * yy**2))
    white = rng.normal(size=shape)
    noise = signal.fftconvolve(white, kernel, mode="same")
    return noise * rms / noise.std()


def write_fits(path, image: np.ndarray, wcs: WCS, beam: Beam) -> None:
    header = wcs.to_header()
    header["BMAJ"], header["BMIN"], header["BPA"] = beam.bmaj_deg, beam.bmin_deg, beam.bpa_deg
    header["BUNIT"] = "JY/BEAM"
    fits.PrimaryHDU(image.astype(np.float32), header).writeto(path, overwrite=True)


def add_sources_sky(
    image: np.ndarray, wcs: WCS, beam: Beam, ra: np.ndarray, dec: np.ndarray, flux: np.ndarray
) -> None:
    """Add point sources evaluated in the sky frame (independent of the pixel-Jacobian code)."""
    ny, nx = image.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    pra, pdec = wcs.wcs_pix2world(xx, yy, 0)
    inv = np.linalg.inv(beam.sky_covariance())
    for r, d, f in zip(ra, dec, flux, strict=True):
        east = ((pra - r + 180) % 360 - 180) * np.cos(np.radians(d))
        north = pdec - d
        q = inv[0, 0] * east**2 + 2 * inv[0, 1] * east * north + inv[1, 1] * north**2
        image += f * np.exp(-0.5 * q)
