"""Forced photometry: the Condon (1997) matched filter at given sky positions.

For each position the kernel ``K`` is the restoring beam (an elliptical
Gaussian of peak 1, oriented in pixel space from the local WCS Jacobian,
centred on the exact sub-pixel position) over a square cutout of side
about 3 x BMAJ. The noise ``s`` is the rms map at the position, taken
constant over the cutout (rms maps vary on the scale of their boxes, tens of
beams). The background map is subtracted first. Blanked (NaN) and off-image pixels are left out of every sum.

* flux ``S = sum(d K / s^2) / sum(K^2 / s^2)`` (Jy, the image being Jy/beam);
* error ``sigma_S = sqrt(f / sum(K^2 / s^2))``, where ``f`` corrects for
  noise correlated between pixels. For independent pixels ``f = 1``; for
  noise whose autocorrelation is a Gaussian of covariance ``C_n``,
  ``f = 2 pi / sqrt(det((2 C_K)^-1 + C_n^-1))`` (the continuum value of
  ``K^T R K / K^T K``, accurate once the beam spans more than ~1 pixel), never
  below 1. Interferometric image noise is correlated like the synthesized
  beam, so ``C_n`` defaults to the beam's own covariance
  (``noise_acf_scale=1``; ``f = 4 pi sqrt(det C_K) / 3``). White noise
  convolved with the beam has ``noise_acf_scale = sqrt(2)``; ``None`` means
  independent pixels;
* ``chi2 = sum((d - S K)^2 / s^2)`` over the ``n_pix`` usable pixels, the
  model of a jointly fitted source including every other jointly fitted
  source (with correlated noise its expectation on blank sky is below
  ``n_pix - 1``; unfitted sources whose wings reach the cutout raise it:
  compare chi2 values between sources, not with the chi-square law);
* ``snr = S / sigma_S``; ``local_rms`` = the rms map at the position.

Blends: positions closer than ``joint_beams`` x BMAJ (default 2.5) are
linked, and each linked group is fitted jointly by solving the small linear
system ``A S = b`` with ``A_jk = sum over cutout j of K_j K_k / s^2`` and
``b_j = sum(d K_j / s^2)`` (one sparse solve for all groups); the error of
source ``j`` is ``1 / (A_jj - sum_k A_jk^2 / A_kk)`` over its neighbours ``k``
(symmetrised ``A``): exact for pairs and chains, a slight underestimate when
two neighbours of ``j`` also overlap each other.
Why 2.5 and not the operating pipeline's 1.5: a neighbour at distance ``r``
leaks ``exp(-r^2 / (4 sigma^2))`` of its flux into a single-source matched
filter (the overlap of two beams), 4% at 1.5 BMAJ but 0.04% at 2.5 BMAJ.
The BLENDED flag still marks positions closer than ``blend_beams`` (1.5)
BMAJ, the ones whose fluxes depend materially on the joint solution.

The per-pixel work is in compiled loops over sources
(:mod:`~dsa110_contimg.photometry.kernels`); the joint fits are in
:mod:`~dsa110_contimg.photometry.blends`. Flags are
:class:`~dsa110_contimg.photometry.flags.PhotFlag`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from astropy.wcs import WCS

from dsa110_contimg.photometry.background import background_rms_map
from dsa110_contimg.photometry.beam import (
    FWHM_TO_SIGMA,
    Beam,
    inverse_2x2,
    load_image,
    major_sigma,
    pixel_covariance,
    sky_to_pixel_jacobian,
)
from dsa110_contimg.photometry.blends import UNSTABLE_CORRELATION, blend_groups, joint_fit
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.kernels import matched_filter_sums


@dataclass(frozen=True)
class ForcedOptions:
    """The thresholds of :func:`forced_photometry` (its keyword defaults), as one record.

    The pipeline builds it from ``settings.photometry``; see
    :func:`forced_photometry` for each.
    """

    cutout_beams: float = 3.0
    blend_beams: float = 1.5
    joint_beams: float = 2.5
    upper_limit_snr: float = 5.0
    noise_acf_scale: float | None = 1.0
    unstable_correlation: float = UNSTABLE_CORRELATION

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`forced_photometry`."""
        return asdict(self)


DEFAULT_FORCED_OPTIONS = ForcedOptions()
"""The forced photometry of the operating pipeline."""


@dataclass
class ForcedPhotometry:
    """Forced measurements, one entry per requested position (all arrays shape (N,)).

    Attributes
    ----------
    flux_jy, flux_err_jy : numpy.ndarray
        Matched-filter flux density and its 1-sigma error, Jy (NaN if unmeasurable).
    snr : numpy.ndarray
        ``flux_jy / flux_err_jy``.
    chi2 : numpy.ndarray
        Chi-square of the fitted model over the cutout.
    n_pix : numpy.ndarray
        Usable pixels in the cutout.
    local_rms_jy : numpy.ndarray
        rms map value at the position, Jy/beam.
    x_pix, y_pix : numpy.ndarray
        0-based pixel position.
    flags : numpy.ndarray
        :class:`~dsa110_contimg.photometry.flags.PhotFlag` bit masks (int).
    """

    flux_jy: np.ndarray
    flux_err_jy: np.ndarray
    snr: np.ndarray
    chi2: np.ndarray
    n_pix: np.ndarray
    local_rms_jy: np.ndarray
    x_pix: np.ndarray
    y_pix: np.ndarray
    flags: np.ndarray

    @property
    def is_upper_limit(self) -> np.ndarray:
        """True where the SNR is below the detection threshold."""
        return (self.flags & PhotFlag.UPPER_LIMIT) != 0


def correlation_factor(cov_pix: np.ndarray, noise_acf_scale: float | None) -> np.ndarray:
    """Variance inflation ``f`` of the matched filter under correlated noise.

    Parameters
    ----------
    cov_pix : numpy.ndarray
        Kernel covariance in pixels^2, shape (N, 2, 2).
    noise_acf_scale : float or None
        Noise autocorrelation = the kernel with both axes scaled by this; None
        for independent pixels.

    Returns
    -------
    numpy.ndarray
        ``f >= 1``, shape (N,).
    """
    if not noise_acf_scale:
        return np.ones(len(cov_pix))
    inv = np.linalg.inv(cov_pix)
    combined = 0.5 * inv + inv / noise_acf_scale**2
    return np.maximum(1.0, 2.0 * np.pi / np.sqrt(np.linalg.det(combined)))


def forced_photometry(
    data: np.ndarray,
    wcs: WCS,
    beam: Beam,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    *,
    rms_map: np.ndarray | None = None,
    background_map: np.ndarray | None = None,
    subtract_background: bool = True,
    noise_acf_scale: float | None = 1.0,
    cutout_beams: float = 3.0,
    blend_beams: float = 1.5,
    joint_beams: float = 2.5,
    upper_limit_snr: float = 5.0,
    unstable_correlation: float = UNSTABLE_CORRELATION,
) -> ForcedPhotometry:
    """Measure flux densities at fixed sky positions with the beam as matched filter.

    Parameters
    ----------
    data : numpy.ndarray
        Primary-beam-corrected image, shape (ny, nx), Jy/beam; NaN = blanked.
    wcs : astropy.wcs.WCS
        Celestial WCS of ``data`` (two axes).
    beam : Beam
        Restoring beam (``Beam.from_header``).
    ra_deg, dec_deg : array_like
        Positions, degrees, shape (N,).
    rms_map : numpy.ndarray, optional
        Noise per pixel, Jy/beam, shape of ``data``; estimated with
        :func:`~dsa110_contimg.photometry.background.background_rms_map` if
        omitted.
    background_map : numpy.ndarray, optional
        Subtracted from the data before fitting; estimated with the rms map
        when omitted. An offset ``B`` under a source otherwise adds
        ``B sum(K) / sum(K^2)`` = ``2 B`` (Jy) to its flux: an
        interferometric image has zero mean, but not locally (sidelobes,
        negative bowls round extended emission, missing short spacings).
    subtract_background : bool
        False to fit the pixels as they are (no background estimated).
    noise_acf_scale : float or None
        Noise correlation model (see the module notes); default 1 (noise
        correlated like the beam), None for independent pixels.
    cutout_beams : float
        Cutout side in units of BMAJ (default 3).
    blend_beams : float
        Positions closer than this many BMAJ are flagged BLENDED (default 1.5).
    joint_beams : float
        Positions closer than this many BMAJ are fitted jointly (default 2.5,
        at least ``blend_beams``).
    upper_limit_snr : float
        Below this SNR a measurement is flagged an upper limit (value and
        error kept).
    unstable_correlation : float
        Jointly fitted kernels whose normalised overlap exceeds this are
        flagged ``UNSTABLE_BLEND`` (default 0.9).

    Returns
    -------
    ForcedPhotometry
    """
    ra = np.atleast_1d(np.asarray(ra_deg, float))
    dec = np.atleast_1d(np.asarray(dec_deg, float))
    n = ra.size
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    x, y = np.asarray(x, float).reshape(n), np.asarray(y, float).reshape(n)
    if rms_map is None:
        _, rms_map = background_rms_map(data)
    if subtract_background:
        if background_map is None:
            background_map = source_free_background(data, wcs, beam, x, y, cutout_beams)
        data = data - background_map
    # work in raster order of position: neighbouring cutouts share cache lines
    with np.errstate(invalid="ignore"):
        raster = np.nan_to_num(np.rint(y) * (data.shape[1] + 64) + np.rint(x), nan=np.inf)
    order = np.argsort(raster, kind="stable")
    ra, dec, x, y = ra[order], dec[order], x[order], y[order]
    cov = pixel_covariance(beam, sky_to_pixel_jacobian(wcs, ra, dec))
    inv_cov = inverse_2x2(cov)
    factor = correlation_factor(cov, noise_acf_scale)
    # BMAJ in pixels from the largest eigenvalue of the pixel covariance
    bmaj_pix = float(np.nanmedian(major_sigma(cov))) / FWHM_TO_SIGMA
    half = max(1, int(np.ceil(0.5 * cutout_beams * bmaj_pix)))

    sums = _single_sums(data, rms_map, x, y, inv_cov, half)
    flags = sums["flags"]
    flux = sums["dk"] / sums["kk"]
    var = factor / sums["kk"]
    chi2 = sums["dd"] - 2 * flux * sums["dk"] + flux**2 * sums["kk"]

    blend = blend_groups(x, y, max(joint_beams, blend_beams) * bmaj_pix, flags)
    if blend is not None:
        fb, vb, cb, unstable = joint_fit(
            data, x, y, inv_cov, half, sums, blend, unstable_correlation=unstable_correlation
        )
        members, pairs, _ = blend
        flux[members], var[members], chi2[members] = fb, vb * factor[members], cb
        j, k = members[pairs[:, 0]], members[pairs[:, 1]]
        close = np.hypot(x[j] - x[k], y[j] - y[k]) < blend_beams * bmaj_pix
        flags[j[close]] |= PhotFlag.BLENDED
        flags[members[unstable]] |= PhotFlag.BLENDED | PhotFlag.UNSTABLE_BLEND

    dead = (flags & (PhotFlag.NO_DATA | PhotFlag.BAD_NOISE)) != 0
    flux[dead] = var[dead] = chi2[dead] = np.nan
    err = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = flux / err
    flags[~dead & ~(snr >= upper_limit_snr)] |= PhotFlag.UPPER_LIMIT
    back = np.empty_like(order)
    back[order] = np.arange(n)  # results in the caller's order
    columns = (flux, err, snr, chi2, sums["n_pix"], sums["rms"], x, y, flags.astype(np.int64))
    return ForcedPhotometry(*(c[back] for c in columns))


def source_free_background(
    data: np.ndarray,
    wcs: WCS,
    beam: Beam,
    x: np.ndarray,
    y: np.ndarray,
    cutout_beams: float = 3.0,
) -> np.ndarray:
    """The background map with the measured positions' cutouts left out.

    Sigma clipping removes a source's core but not its wings, which lift a
    box's median in a crowded field (a 5 x 3 pixel beam every 35 pixels:
    +0.13 sigma on every flux). The cutouts (+-1.5 BMAJ, where the beam
    falls below 0.2% of its peak) are blanked first; when that would blank
    more than half the image, the sources are left in.
    """
    ny, nx = data.shape
    centre = wcs.wcs_pix2world([[0.5 * nx, 0.5 * ny]], 0)[0]
    cov = pixel_covariance(beam, sky_to_pixel_jacobian(wcs, centre[:1], centre[1:]))
    half = max(1, int(np.ceil(0.5 * cutout_beams * major_sigma(cov)[0] / FWHM_TO_SIGMA)))
    inside = np.isfinite(x) & np.isfinite(y) & (x > -half) & (x < nx + half)
    inside &= (y > -half) & (y < ny + half)
    xi, yi = np.rint(x[inside]).astype(np.int64), np.rint(y[inside]).astype(np.int64)
    masked = np.asarray(data, float).copy()
    offsets = np.arange(-half, half + 1)
    for dy in offsets:  # one vectorised pass per cutout row
        rows = yi + dy
        keep = (rows >= 0) & (rows < ny)
        cols = xi[keep, None] + offsets[None, :]
        good = (cols >= 0) & (cols < nx)
        masked[np.broadcast_to(rows[keep, None], cols.shape)[good], cols[good]] = np.nan
    if np.isfinite(masked).sum() < 0.5 * np.isfinite(data).sum():
        masked = data
    background, _ = background_rms_map(masked)
    return np.nan_to_num(background)


def _single_sums(
    data: np.ndarray,
    rms_map: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inv_cov: np.ndarray,
    half: int,
) -> dict[str, np.ndarray]:
    """Per-source sums of the single-source fit (a compiled loop over sources).

    The noise is taken constant over a cutout (the rms map at the position):
    rms maps vary on the scale of their boxes, far larger than a cutout.
    """
    flags = np.zeros(x.size, np.int64)
    ny, nx = data.shape
    finite_pos = np.isfinite(x) & np.isfinite(y)
    xs = np.clip(np.where(finite_pos, x, -1e9), -1e6, 1e6)
    ys = np.clip(np.where(finite_pos, y, -1e9), -1e6, 1e6)
    centre_in = finite_pos & (xs > -0.5) & (xs < nx - 0.5) & (ys > -0.5) & (ys < ny - 0.5)
    xi = np.clip(np.rint(xs).astype(np.int64), 0, nx - 1)
    yi = np.clip(np.rint(ys).astype(np.int64), 0, ny - 1)
    rms = np.where(centre_in, rms_map[yi, xi], np.nan)
    flags[~centre_in] |= PhotFlag.NO_DATA
    flags[centre_in & ~(rms > 0)] |= PhotFlag.BAD_NOISE  # also catches NaN
    dk, kk, dd, n_pix, edge, blanked = matched_filter_sums(
        np.ascontiguousarray(data, dtype=float), xs, ys, np.ascontiguousarray(inv_cov), half
    )
    flags[edge] |= PhotFlag.NEAR_EDGE
    flags[blanked] |= PhotFlag.BLANKED
    flags[n_pix == 0] |= PhotFlag.NO_DATA
    weight = 1.0 / rms**2
    out = {"dk": dk * weight, "kk": kk * weight, "dd": dd * weight, "n_pix": n_pix}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["kk"] = np.where(out["kk"] > 0, out["kk"], np.nan)
    out["rms"] = np.where((flags & PhotFlag.NO_DATA) != 0, np.nan, rms)
    out["flags"] = flags
    return out


def forced_photometry_fits(
    image_path: str,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    *,
    rms_map: np.ndarray | None = None,
    **options: object,
) -> ForcedPhotometry:
    """:func:`forced_photometry` on a FITS image (e.g. WSClean's ``-image-pb.fits``).

    Reads the first plane, the celestial WCS and BMAJ/BMIN/BPA with
    :func:`~dsa110_contimg.photometry.beam.load_image`; ``options`` as for
    :func:`forced_photometry`.
    """
    data, wcs, beam, _ = load_image(image_path)
    return forced_photometry(data, wcs, beam, ra_deg, dec_deg, rms_map=rms_map, **options)
