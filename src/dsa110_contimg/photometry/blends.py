"""Joint matched-filter fits of positions whose beams overlap.

Positions closer than the joint-fit radius are linked (a k-d tree's pair
query); linked positions form groups. For each member ``j`` and neighbour
``k``, ``A_jk = sum over cutout j of K_j K_k / s_j^2``; with ``A_jj`` and
``b_j`` from the single-source sums, one sparse solve of ``A S = b`` gives
every group's fluxes at once. See :mod:`~dsa110_contimg.photometry.forced`
for the error and chi-square.

The kernel overlaps ``sum K_j K_k`` are in closed form
(:func:`~dsa110_contimg.photometry.kernels.gaussian_overlaps`) when cutout ``j`` is whole (no blanked or
off-image pixel): the product is a Gaussian whose integral is
``2 pi / sqrt(det(P_j + P_k)) exp(-r^T (C_j + C_k)^-1 r / 2)`` (``P``
inverse covariances, ``C`` covariances, ``r`` the separation), times the
first terms of its Poisson sum over the pixel lattice (the sampling: 0.1%
for a beam of 2 pixels FWHM). It differs from the pixel sum over cutout
``j`` by the part of the product beyond the cutout, where ``K_j`` is below
1e-3 of its peak: at most 4e-5 of ``A_jj`` for beams of 2-5 pixels FWHM
(``tests/photometry``). Cutouts with missing pixels are summed pixel by
pixel. This replaces one exponential per pixel
per pair (590,000 pairs of 225 pixels for 10^5 positions at 100x the NVSS
density with a 25 arcsec beam) by a few operations per pair.

The chi-square of a member is read from one model image on which every
fitted member is drawn once (:mod:`~dsa110_contimg.photometry.kernels`, out
to :data:`PAINT_SIGMAS` of the beam's major axis), so it includes all jointly
fitted sources whose beams reach the cutout.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

from dsa110_contimg.photometry.beam import inverse_2x2, major_sigma
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.kernels import (
    gaussian_overlaps,
    paint_gaussians,
    pixel_overlaps,
    residual_sums,
)

UNSTABLE_CORRELATION = 0.9
"""Kernels whose normalised overlap exceeds this cannot be separated (default of
``settings.photometry.unstable_correlation``)."""

PAINT_SIGMAS = 5.3
"""Model sources are drawn out to this many major-axis sigmas (kernel < 1e-6 of peak)."""


def blend_groups(
    x: np.ndarray, y: np.ndarray, radius_pix: float, flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Positions with a neighbour closer than ``radius_pix``, and the pairs.

    Returns the member indices (sorted), the directed pairs (j, k) in member
    numbering sorted by j, and for each pair the index of (k, j); None if no
    two usable positions are that close. Linked groups need no labels: one
    sparse solve covers them all.
    """
    ok = np.flatnonzero((flags & (PhotFlag.NO_DATA | PhotFlag.BAD_NOISE)) == 0)
    if ok.size < 2:
        return None
    pairs = cKDTree(np.c_[x[ok], y[ok]]).query_pairs(radius_pix, output_type="ndarray")
    if len(pairs) == 0:
        return None
    pairs = ok[pairs]
    linked = np.zeros(x.size, bool)
    linked[pairs.ravel()] = True
    members = np.flatnonzero(linked)
    local = np.cumsum(linked)[pairs] - 1  # member numbering
    directed = np.concatenate([local, local[:, ::-1]])
    order = np.argsort(directed[:, 0], kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    n_pairs = len(local)
    reverse = position[(order + n_pairs) % (2 * n_pairs)]
    return members, directed[order], reverse


def joint_fit(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inv_cov: np.ndarray,
    half: int,
    sums: dict[str, np.ndarray],
    blend: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    unstable_correlation: float = UNSTABLE_CORRELATION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve the blend groups' linear systems; return flux, variance, chi2, unstable.

    Overlaps in closed form (pixel sums on cutouts with missing pixels), one
    sparse solve for the fluxes, and the chi-square from one model image of
    all members (see the module notes). Kernels whose normalised overlap
    exceeds ``unstable_correlation`` are unstable.
    """
    members, pairs, reverse = blend
    m = members.size
    j, k = pairs[:, 0], pairs[:, 1]
    gj, gk = members[j], members[k]
    overlap = gaussian_overlaps(x, y, inv_cov, gj, gk)
    partial = (sums["flags"][gj] & (PhotFlag.NEAR_EDGE | PhotFlag.BLANKED)) != 0
    if partial.any():
        overlap[partial] = pixel_overlaps(
            np.ascontiguousarray(data, dtype=float), x, y, inv_cov, half, gj[partial], gk[partial]
        )
    w = 1.0 / sums["rms"][members] ** 2  # per member, constant over its cutout
    a_jj, b = sums["kk"][members], sums["dk"][members]
    weighted = overlap * w[j]

    # One sparse solve for all groups at once (block diagonal up to ordering).
    # a relative ridge of 1e-9 keeps coincident positions solvable (equal shares)
    mat = csc_matrix(
        (
            np.concatenate([a_jj * (1 + 1e-9), weighted]),
            (np.r_[np.arange(m), j], np.r_[np.arange(m), k]),
        ),
        shape=(m, m),
    )
    flux = np.atleast_1d(spsolve(mat, b))
    # Variance: Schur complement of each source against its direct neighbours,
    # exact for pairs and chains, neglecting overlap between two neighbours;
    # below 10% of A_jj the source cannot be separated (error > 3x alone).
    a_sym = 0.5 * (weighted + weighted[reverse])
    schur = a_jj - np.bincount(j, a_sym**2 / a_jj[k], minlength=m)
    unstable = schur < 0.1 * a_jj
    correlation = weighted / np.sqrt(a_jj[j] * a_jj[k])
    unstable[j[correlation > unstable_correlation]] = True
    var = 1.0 / np.maximum(schur, 0.1 * a_jj)
    chi2 = member_chi2(data, x[members], y[members], inv_cov[members], half, flux) * w
    return flux, var, chi2, unstable


def member_chi2(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inv_cov: np.ndarray,
    half: int,
    flux: np.ndarray,
) -> np.ndarray:
    """Unweighted sum of squared residuals on each cutout, all the given sources modelled.

    Parameters
    ----------
    data : numpy.ndarray
        The image, shape (ny, nx).
    x, y, inv_cov, flux : numpy.ndarray
        The fitted sources: positions (pixels), inverse kernel covariances
        (N, 2, 2) and fluxes (Jy).
    half : int
        Cutout half-width, pixels.
    """
    data = np.ascontiguousarray(data, dtype=float)
    x, y = np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(y, dtype=float)
    inv_cov = np.ascontiguousarray(inv_cov, dtype=float)
    widest = np.max(major_sigma(inverse_2x2(inv_cov)))
    reach = max(half, int(np.ceil(PAINT_SIGMAS * widest)))
    model = np.zeros(data.shape)
    paint_gaussians(model, x, y, inv_cov, np.ascontiguousarray(flux, dtype=float), reach)
    return residual_sums(data, model, x, y, half)
