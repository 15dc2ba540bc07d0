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


def snapshot_psf(
    n: int, cell_arcsec: float, robust_weight: float = 1.0, min_uv_lambda: float = 1000.0
) -> np.ndarray:
    """Dirty beam of a DSA-110 snapshot at zenith: the 117 surveyed pads, 48 channels over the band.

    The uv samples are gridded on the image's Fourier grid with weights between
    natural and uniform (``w = n / (n + robust_weight * median n)``), baselines
    shorter than ``min_uv_lambda`` left out (the standard tier's cut), and the
    transform is normalised to peak 1 at pixel (n // 2, n // 2). Its first
    sidelobes are negative and tens of percent: the shape WSClean leaves an
    uncleaned source in.
    """
    from dsa110_contimg.telescope.layout import dsa110_layout

    layout = dsa110_layout()
    enu = layout.enu_m[layout.active_indices]
    i, j = np.triu_indices(len(enu), 1)
    wavelength = 2.998e8 / np.linspace(1.311e9, 1.498e9, 48)
    u = ((enu[j, 0] - enu[i, 0])[:, None] / wavelength).ravel()
    v = ((enu[j, 1] - enu[i, 1])[:, None] / wavelength).ravel()
    long = np.hypot(u, v) >= min_uv_lambda
    u, v = u[long], v[long]
    du = 1.0 / (n * np.radians(cell_arcsec / 3600.0))
    grid = np.zeros((n, n))
    # x grows to the west (RA to the left): the sky's east is -x, so u -> -x frequency
    for sign in (1, -1):
        np.add.at(
            grid,
            (np.rint(sign * v / du).astype(int) % n, np.rint(-sign * u / du).astype(int) % n),
            1.0,
        )
    grid = grid / (grid + robust_weight * np.median(grid[grid > 0]))
    psf = np.fft.fftshift(np.real(np.fft.ifft2(grid)))
    return psf / psf[n // 2, n // 2]


def fit_restoring_beam(psf: np.ndarray, cell_arcsec: float, level: float = 0.35) -> Beam:
    """Gaussian fitted to the PSF's main lobe above ``level`` (as WSClean fits its restoring beam)."""
    from scipy import optimize

    c = psf.shape[0] // 2
    yy, xx = np.mgrid[-12:13, -12:13]
    cut = psf[c - 12 : c + 13, c - 12 : c + 13]
    from scipy import ndimage

    labels, _ = ndimage.label(cut > level)
    lobe = labels == labels[12, 12]  # the main lobe only, not the sidelobes above ``level``

    def model(p):
        a, b, d = p  # inverse covariance (pixels^-2)
        return np.exp(-0.5 * (a * xx**2 + 2 * b * xx * yy + d * yy**2))

    a, b, d = optimize.least_squares(lambda p: (model(p) - cut)[lobe], [0.3, 0.0, 0.3]).x
    cov = np.linalg.inv([[a, b], [b, d]])
    values, vectors = np.linalg.eigh(cov)
    to_fwhm = np.sqrt(8 * np.log(2)) * cell_arcsec / 3600
    vx, vy = vectors[:, 1]  # major axis in pixels; east = -x, north = +y
    bpa = np.degrees(np.arctan2(-vx, vy)) % 180
    return Beam(np.sqrt(values[1]) * to_fwhm, np.sqrt(values[0]) * to_fwhm, float(bpa))


def add_dirty_sources(
    image: np.ndarray, psf: np.ndarray, wcs: WCS, ra: np.ndarray, dec: np.ndarray, flux: np.ndarray
) -> None:
    """Add point sources convolved with the dirty beam (Fourier shift: exact sub-pixel), in place."""
    ny, nx = image.shape
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    kx, ky = np.fft.fftfreq(nx)[None, :], np.fft.fftfreq(ny)[:, None]
    sky = np.zeros((ny, nx), complex)
    for xi, yi, fi in zip(x, y, flux, strict=True):
        sky += fi * np.exp(-2j * np.pi * (kx * xi + ky * yi))
    image += np.real(np.fft.ifft2(sky * np.fft.fft2(np.fft.ifftshift(psf))))
