"""Forced photometry: the Condon (1997) matched filter at given sky positions.

For each position the kernel ``K`` is the restoring beam (an elliptical
Gaussian of peak 1, oriented in pixel space from the local WCS Jacobian,
centred on the exact sub-pixel position) over a square cutout of side
about 3 x BMAJ. The noise ``s`` is the rms map at the position, taken
constant over the cutout (rms maps vary on the scale of their boxes, tens of
beams). Blanked (NaN) and off-image pixels are left out of every sum.

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
* ``chi2 = sum((d - S K)^2 / s^2)`` over the ``n_pix`` usable pixels (with
  correlated noise its expectation on blank sky is below ``n_pix - 1``;
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

Everything is vectorised over sources (cutouts gathered by fancy indexing,
in chunks to bound memory); the only Python loop is over distinct blend
group sizes. Flags are :class:`~dsa110_contimg.photometry.flags.PhotFlag`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS
from scipy.sparse import coo_matrix, csc_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

from dsa110_contimg.photometry.background import background_rms_map
from dsa110_contimg.photometry.beam import (
    FWHM_TO_SIGMA,
    Beam,
    pixel_covariance,
    sky_to_pixel_jacobian,
)
from dsa110_contimg.photometry.flags import PhotFlag

_CHUNK_PIXELS = 1 << 18  # pixels per chunk: 2 MB float64 arrays stay in cache
_UNSTABLE_CORRELATION = 0.9  # kernels this alike cannot be separated


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


class _Geometry:
    """Cutout pixel indices and offsets for a set of centres (vectorised)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, half: int, shape: tuple[int, int]) -> None:
        offsets = np.arange(-half, half + 1)
        xc = np.rint(x).astype(np.int64)
        yc = np.rint(y).astype(np.int64)
        ix, iy = xc[:, None] + offsets, yc[:, None] + offsets
        inside_x = (ix >= 0) & (ix < shape[1])
        inside_y = (iy >= 0) & (iy < shape[0])
        self._inside_x, self._inside_y = inside_x, inside_y
        self.ix = np.clip(ix, 0, shape[1] - 1)
        self.iy = np.clip(iy, 0, shape[0] - 1)
        self._width = shape[1]

    @property
    def inside(self) -> np.ndarray:
        """Pixels of each cutout that lie on the image, (N, B, B) bool."""
        return self._inside_y[:, :, None] & self._inside_x[:, None, :]

    def gather(self, image: np.ndarray) -> np.ndarray:
        """Cutouts of ``image``, shape (N, B, B) (out-of-image pixels repeat the edge)."""
        flat = (self.iy * self._width)[:, :, None] + self.ix[:, None, :]
        return np.take(image.reshape(-1), flat)  # faster than 2-D fancy indexing

    def kernel(self, x: np.ndarray, y: np.ndarray, inv_cov: np.ndarray) -> np.ndarray:
        """Gaussian of peak 1 centred at (x, y), sampled on these cutouts.

        Written as ``exp(-a dx^2 / 2) exp(-c dy^2 / 2) exp(-b dx dy)`` so only
        the cross term needs a full (N, B, B) exponential.
        """
        dx = self.ix - x[:, None]
        dy = self.iy - y[:, None]
        ex = np.exp(-0.5 * inv_cov[:, 0, 0, None] * dx * dx)
        ey = np.exp(-0.5 * inv_cov[:, 1, 1, None] * dy * dy)
        out = (-inv_cov[:, 0, 1, None] * dy)[:, :, None] * dx[:, None, :]
        np.exp(out, out=out)
        out *= ey[:, :, None]
        out *= ex[:, None, :]
        return out


def forced_photometry(
    data: np.ndarray,
    wcs: WCS,
    beam: Beam,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    *,
    rms_map: np.ndarray | None = None,
    background_map: np.ndarray | None = None,
    noise_acf_scale: float | None = 1.0,
    cutout_beams: float = 3.0,
    blend_beams: float = 1.5,
    joint_beams: float = 2.5,
    upper_limit_snr: float = 5.0,
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
        Subtracted from the data before fitting (default: none; the mean of
        an interferometric image is zero).
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

    Returns
    -------
    ForcedPhotometry
    """
    ra = np.atleast_1d(np.asarray(ra_deg, float))
    dec = np.atleast_1d(np.asarray(dec_deg, float))
    if rms_map is None:
        background, rms_map = background_rms_map(data)
    if background_map is not None:
        data = data - background_map
    n = ra.size
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    x, y = np.asarray(x, float).reshape(n), np.asarray(y, float).reshape(n)
    # work in raster order of position: neighbouring cutouts share cache lines
    with np.errstate(invalid="ignore"):
        raster = np.nan_to_num(np.rint(y) * (data.shape[1] + 64) + np.rint(x), nan=np.inf)
    order = np.argsort(raster, kind="stable")
    ra, dec, x, y = ra[order], dec[order], x[order], y[order]
    cov = pixel_covariance(beam, sky_to_pixel_jacobian(wcs, ra, dec))
    inv_cov = np.linalg.inv(cov)
    factor = correlation_factor(cov, noise_acf_scale)
    # BMAJ in pixels from the largest eigenvalue of the pixel covariance
    bmaj_pix = float(np.nanmedian(np.sqrt(np.linalg.eigvalsh(cov)[:, 1]))) / FWHM_TO_SIGMA
    half = max(1, int(np.ceil(0.5 * cutout_beams * bmaj_pix)))

    sums = _single_sums(data, rms_map, x, y, inv_cov, half)
    flags = sums["flags"]
    flux = sums["dk"] / sums["kk"]
    var = factor / sums["kk"]
    chi2 = sums["dd"] - 2 * flux * sums["dk"] + flux**2 * sums["kk"]

    blend = _blend_groups(x, y, max(joint_beams, blend_beams) * bmaj_pix, flags)
    if blend is not None:
        fb, vb, cb, unstable = _joint_fit(data, x, y, inv_cov, half, sums, blend)
        members, _, pairs, _ = blend
        flux[members], var[members], chi2[members] = fb, vb * factor[members], cb
        close = np.hypot(
            *(
                np.c_[x[members], y[members]][pairs[:, 0]]
                - np.c_[x[members], y[members]][pairs[:, 1]]
            ).T
        )
        flags[members[pairs[close < blend_beams * bmaj_pix, 0]]] |= PhotFlag.BLENDED
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


def _single_sums(
    data: np.ndarray,
    rms_map: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inv_cov: np.ndarray,
    half: int,
) -> dict[str, np.ndarray]:
    """Per-source sums of the single-source fit, chunked over sources.

    The noise is taken constant over a cutout (the rms map at the position):
    rms maps vary on the scale of their boxes, far larger than a cutout.
    """
    n, width = x.size, 2 * half + 1
    out = {k: np.zeros(n) for k in ("dk", "kk", "dd")}
    out["n_pix"] = np.zeros(n, np.int64)
    flags = np.zeros(n, np.int64)
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
    chunk = max(256, _CHUNK_PIXELS // (width * width))
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        geo = _Geometry(xs[sl], ys[sl], half, data.shape)
        d = geo.gather(data)
        inside = geo.inside
        finite = np.isfinite(d)
        usable = inside & finite
        k = geo.kernel(xs[sl], ys[sl], inv_cov[sl])
        k *= usable
        d0 = np.where(usable, d, 0.0)
        out["dk"][sl] = np.einsum("nij,nij->n", d0, k)
        out["kk"][sl] = np.einsum("nij,nij->n", k, k)
        out["dd"][sl] = np.einsum("nij,nij->n", d0, d0)
        out["n_pix"][sl] = usable.sum((1, 2))
        f = flags[sl]
        f[~inside.all((1, 2))] |= PhotFlag.NEAR_EDGE
        f[(inside & ~finite).any((1, 2))] |= PhotFlag.BLANKED
    flags[out["n_pix"] == 0] |= PhotFlag.NO_DATA
    weight = 1.0 / rms**2
    for key in ("dk", "kk", "dd"):
        out[key] *= weight
    with np.errstate(invalid="ignore", divide="ignore"):
        out["kk"] = np.where(out["kk"] > 0, out["kk"], np.nan)
    out["rms"] = np.where((flags & PhotFlag.NO_DATA) != 0, np.nan, rms)
    out["flags"] = flags
    return out


def _blend_groups(
    x: np.ndarray, y: np.ndarray, radius_pix: float, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Linked groups of close positions.

    Returns member indices, their group labels, the directed pairs (j, k)
    in member numbering sorted by j, and for each pair the index of (k, j).
    """
    ok = np.flatnonzero((flags & (PhotFlag.NO_DATA | PhotFlag.BAD_NOISE)) == 0)
    if ok.size < 2:
        return None
    pairs = cKDTree(np.c_[x[ok], y[ok]]).query_pairs(radius_pix, output_type="ndarray")
    if len(pairs) == 0:
        return None
    pairs = ok[pairs]
    members = np.unique(pairs)
    local = np.searchsorted(members, pairs)
    graph = coo_matrix((np.ones(len(local)), (local[:, 0], local[:, 1])), shape=(members.size,) * 2)
    _, group = connected_components(graph, directed=False)
    directed = np.concatenate([local, local[:, ::-1]])
    order = np.argsort(directed[:, 0], kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    n_pairs = len(local)
    reverse = position[(order + n_pairs) % (2 * n_pairs)]
    return members, group, directed[order], reverse


def _member_chunks(data, x, y, inv_cov, half, members, pairs):
    """Per chunk of members: their cutouts, kernels, and their neighbours' kernels."""
    j, k = pairs[:, 0], pairs[:, 1]
    width = 2 * half + 1
    step = max(64, _CHUNK_PIXELS // (width * width) // 4)
    for start in range(0, members.size, step):
        ms = slice(start, min(start + step, members.size))
        idx = members[ms]
        geo = _Geometry(x[idx], y[idx], half, data.shape)
        d = geo.gather(data)
        usable = geo.inside & np.isfinite(d)
        k_own = geo.kernel(x[idx], y[idx], inv_cov[idx])
        k_own *= usable
        ps = slice(*np.searchsorted(j, [ms.start, ms.stop]))
        jj, kk = j[ps], k[ps]
        pair_geo = _Geometry(x[members[jj]], y[members[jj]], half, data.shape)
        k_nb = pair_geo.kernel(x[members[kk]], y[members[kk]], inv_cov[members[kk]])
        yield ms, np.where(usable, d, 0.0), usable, k_own, ps, jj - ms.start, k_nb


def _joint_fit(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inv_cov: np.ndarray,
    half: int,
    sums: dict[str, np.ndarray],
    blend: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve the blend groups' linear systems; return flux, variance, chi2, unstable.

    Two passes over members in chunks (cache-sized arrays): the overlaps
    ``A_jk``, then, after one sparse solve, the chi-square with every
    neighbour's fitted kernel in the model.
    """
    members, _, pairs, reverse = blend
    m = members.size
    j, k = pairs[:, 0], pairs[:, 1]
    w = 1.0 / sums["rms"][members] ** 2  # per member, constant over its cutout
    a_jk = np.empty(len(pairs))
    for _, _, _, k_own, ps, local_j, k_nb in _member_chunks(
        data, x, y, inv_cov, half, members, pairs
    ):
        a_jk[ps] = np.einsum("nij,nij->n", k_own[local_j], k_nb)
    a_jk *= w[j]
    a_jj, b = sums["kk"][members], sums["dk"][members]

    # One sparse solve for all groups at once (block diagonal up to ordering).
    mat = csc_matrix(
        (np.concatenate([a_jj, a_jk]), (np.r_[np.arange(m), j], np.r_[np.arange(m), k])),
        shape=(m, m),
    )
    flux = np.atleast_1d(spsolve(mat, b))
    # Variance: Schur complement of each source against its direct neighbours,
    # exact for pairs and chains, neglecting overlap between two neighbours;
    # below 10% of A_jj the source cannot be separated (error > 3x alone).
    a_sym = 0.5 * (a_jk + a_jk[reverse])
    schur = a_jj - np.bincount(j, a_sym**2 / a_jj[k], minlength=m)
    unstable = schur < 0.1 * a_jj
    correlation = a_jk / np.sqrt(a_jj[j] * a_jj[k])
    unstable[j[correlation > _UNSTABLE_CORRELATION]] = True
    var = 1.0 / np.maximum(schur, 0.1 * a_jj)

    chi2 = np.empty(m)
    for ms, d, usable, k_own, ps, local_j, k_nb in _member_chunks(
        data, x, y, inv_cov, half, members, pairs
    ):
        model = k_own * flux[ms][:, None, None]
        k_nb *= flux[k[ps]][:, None, None]
        firsts = np.flatnonzero(np.r_[True, np.diff(local_j) != 0])
        rank = np.arange(local_j.size) - np.repeat(firsts, np.diff(np.r_[firsts, local_j.size]))
        for r in range(int(rank.max(initial=-1)) + 1):  # one j per rank: no duplicates
            pick = rank == r
            model[local_j[pick]] += k_nb[pick]
        resid = (d - model) * usable
        chi2[ms] = np.einsum("nij,nij->n", resid, resid)
    return flux, var, chi2 * w, unstable
