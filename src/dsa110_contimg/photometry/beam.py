"""The restoring beam of an image, and its shape in pixel space at any position.

The beam is an elliptical Gaussian: FWHM ``bmaj``, ``bmin`` and position angle
``bpa`` of the major axis, measured from north through east (the FITS
``BMAJ``/``BMIN``/``BPA`` convention, degrees). Its pixel-space covariance at
a sky position comes from the local Jacobian of the WCS (finite differences
of one arcsecond), so axis flips (RA increasing to the left), rotation and
projection distortion are all honoured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.errors import InputDataError

FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))
"""Gaussian sigma per unit full width at half maximum."""

_STEP_DEG = 1.0 / 3600.0  # finite-difference step of the Jacobian


@dataclass(frozen=True)
class Beam:
    """An elliptical Gaussian beam.

    Attributes
    ----------
    bmaj_deg, bmin_deg : float
        Full widths at half maximum of the major and minor axes, degrees.
    bpa_deg : float
        Position angle of the major axis, east of north, degrees.
    """

    bmaj_deg: float
    bmin_deg: float
    bpa_deg: float

    @classmethod
    def from_header(cls, header: fits.Header) -> Beam:
        """Read ``BMAJ``, ``BMIN``, ``BPA`` (degrees) from a FITS header.

        Raises
        ------
        InputDataError
            If ``BMAJ`` or ``BMIN`` is missing or not positive.
        """
        try:
            bmaj, bmin = float(header["BMAJ"]), float(header["BMIN"])
        except KeyError as exc:
            raise InputDataError(
                f"image header has no {exc.args[0]}", hint="restoring beam unknown"
            ) from exc
        if not (bmaj > 0 and bmin > 0):
            raise InputDataError(f"image beam BMAJ={bmaj}, BMIN={bmin} is not positive")
        return cls(bmaj, bmin, float(header.get("BPA", 0.0)))

    def sky_covariance(self) -> np.ndarray:
        """2x2 covariance in (east, north) offsets, degrees squared."""
        pa = np.radians(self.bpa_deg)
        major = np.array([np.sin(pa), np.cos(pa)])
        minor = np.array([np.cos(pa), -np.sin(pa)])
        s_maj, s_min = self.bmaj_deg * FWHM_TO_SIGMA, self.bmin_deg * FWHM_TO_SIGMA
        return s_maj**2 * np.outer(major, major) + s_min**2 * np.outer(minor, minor)


def sky_to_pixel_jacobian(wcs: WCS, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Local Jacobian d(x, y) / d(east, north) of a celestial WCS.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Two-axis celestial WCS.
    ra_deg, dec_deg : numpy.ndarray
        Positions, degrees, shape (N,).

    Returns
    -------
    numpy.ndarray
        Shape (N, 2, 2): ``J[:, :, 0]`` is the pixel displacement per degree
        east, ``J[:, :, 1]`` per degree north (0-based pixels, x then y).
    """
    ra = np.asarray(ra_deg, float)
    dec = np.asarray(dec_deg, float)
    cos_dec = np.maximum(np.cos(np.radians(dec)), 1e-6)
    x0, y0 = wcs.wcs_world2pix(ra, dec, 0)
    xe, ye = wcs.wcs_world2pix(ra + _STEP_DEG / cos_dec, dec, 0)
    # step north away from the pole so the point stays valid
    step_n = np.where(dec > 89.0, -_STEP_DEG, _STEP_DEG)
    xn, yn = wcs.wcs_world2pix(ra, dec + step_n, 0)
    jac = np.empty((ra.size, 2, 2))
    jac[:, 0, 0], jac[:, 1, 0] = (xe - x0) / _STEP_DEG, (ye - y0) / _STEP_DEG
    jac[:, 0, 1], jac[:, 1, 1] = (xn - x0) / step_n, (yn - y0) / step_n
    return jac


def pixel_covariance(beam: Beam, jacobian: np.ndarray) -> np.ndarray:
    """The beam's covariance in pixel units, ``J C_sky J^T``, shape (N, 2, 2)."""
    (cee, cen), (_, cnn) = beam.sky_covariance()
    j = jacobian
    # rows of J C: (J C)_i = (j_ie cee + j_in cen, j_ie cen + j_in cnn)
    u0, u1 = j[:, 0, 0] * cee + j[:, 0, 1] * cen, j[:, 0, 0] * cen + j[:, 0, 1] * cnn
    v0, v1 = j[:, 1, 0] * cee + j[:, 1, 1] * cen, j[:, 1, 0] * cen + j[:, 1, 1] * cnn
    out = np.empty(j.shape)
    out[:, 0, 0] = u0 * j[:, 0, 0] + u1 * j[:, 0, 1]
    out[:, 1, 1] = v0 * j[:, 1, 0] + v1 * j[:, 1, 1]
    out[:, 0, 1] = out[:, 1, 0] = u0 * j[:, 1, 0] + u1 * j[:, 1, 1]
    return out


def inverse_2x2(m: np.ndarray) -> np.ndarray:
    """Inverses of symmetric 2x2 matrices, shape (N, 2, 2) (closed form)."""
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    out = np.empty(m.shape)
    out[:, 0, 0], out[:, 1, 1] = m[:, 1, 1] / det, m[:, 0, 0] / det
    out[:, 0, 1], out[:, 1, 0] = -m[:, 0, 1] / det, -m[:, 1, 0] / det
    return out


def major_sigma(cov: np.ndarray) -> np.ndarray:
    """Square root of the largest eigenvalue of symmetric 2x2 covariances, shape (N,)."""
    mean = 0.5 * (cov[:, 0, 0] + cov[:, 1, 1])
    spread = np.hypot(0.5 * (cov[:, 0, 0] - cov[:, 1, 1]), cov[:, 0, 1])
    return np.sqrt(mean + spread)


def load_image(path: str) -> tuple[np.ndarray, WCS, Beam, fits.Header]:
    """Read a FITS image plane, its celestial WCS and its restoring beam.

    Degenerate axes (frequency, Stokes) are dropped; the first plane of any
    longer extra axis is taken.

    Returns
    -------
    data : numpy.ndarray
        Shape (ny, nx), image units (Jy/beam), float64.
    wcs : astropy.wcs.WCS
        Celestial two-axis WCS.
    beam : Beam
    header : astropy.io.fits.Header
    """
    with fits.open(path) as hdul:
        header = hdul[0].header
        data = np.asarray(hdul[0].data, dtype=float)
    while data.ndim > 2:
        data = data[0]
    return data, WCS(header).celestial, Beam.from_header(header), header
