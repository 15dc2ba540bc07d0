"""Joint matched-filter fits of positions whose beams overlap.

Positions closer than the joint-fit radius are linked (a k-d tree's pair
query); linked positions form groups. For each member ``j`` and
neighbour ``k``, ``A_jk = sum over cutout j of K_j K_k / s_j^2``; with
``A_jj`` and ``b_j`` from the single-source sums, one sparse solve of
``A S = b`` gives every group's fluxes at once. See
:mod:`~dsa110_contimg.photometry.forced` for the error and chi-square.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csc_matrix
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree

from dsa110_contimg.photometry.cutouts import CHUNK_PIXELS, Cutouts
from dsa110_contimg.photometry.flags import PhotFlag

UNSTABLE_CORRELATION = 0.9
"""Kernels whose normalised overlap exceeds this cannot be separated."""

TRIPLES_PER_PAIR_MAX = 2.0
"""Above this many neighbour triples per pair, chi2 takes a second pass over pixels."""


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
    members = np.unique(pairs)
    local = np.searchsorted(members, pairs)
    directed = np.concatenate([local, local[:, ::-1]])
    order = np.argsort(directed[:, 0], kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    n_pairs = len(local)
    reverse = position[(order + n_pairs) % (2 * n_pairs)]
    return members, directed[order], reverse


def _member_chunks(data, x, y, inv_cov, half, members, pairs):
    """Per chunk of members: their cutouts, kernels, and their neighbours' kernels."""
    j, k = pairs[:, 0], pairs[:, 1]
    width = 2 * half + 1
    step = max(64, CHUNK_PIXELS // (width * width) // 4)
    for start in range(0, members.size, step):
        ms = slice(start, min(start + step, members.size))
        idx = members[ms]
        geo = Cutouts(x[idx], y[idx], half, data.shape)
        d = geo.gather(data)
        usable = geo.inside & np.isfinite(d)
        k_own = geo.kernel(x[idx], y[idx], inv_cov[idx])
        k_own *= usable
        ps = slice(*np.searchsorted(j, [ms.start, ms.stop]))
        jj, kk = j[ps], k[ps]
        local_j = jj - ms.start
        k_nb = geo.subset(local_j).kernel(x[members[kk]], y[members[kk]], inv_cov[members[kk]])
        yield ms, np.where(usable, d, 0.0), usable, k_own, ps, local_j, k_nb


def joint_fit(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inv_cov: np.ndarray,
    half: int,
    sums: dict[str, np.ndarray],
    blend: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve the blend groups' linear systems; return flux, variance, chi2, unstable.

    A pass over members in chunks (cache-sized arrays) gathers the kernel
    overlaps on each member's cutout; one sparse solve gives the fluxes. The
    chi-square, with every fitted neighbour in the model, follows from the
    same overlaps (pairs and triples of neighbours) when there are few
    triples, else from a second pass over the pixels (dense fields, where
    triples outnumber pairs).
    """
    members, pairs, reverse = blend
    m = members.size
    j, k = pairs[:, 0], pairs[:, 1]
    degree = np.bincount(j, minlength=m)
    with_triples = np.sum(degree * (degree - 1)) <= TRIPLES_PER_PAIR_MAX * len(pairs)
    overlaps = _overlaps(data, x, y, inv_cov, half, members, pairs, with_triples)
    w = 1.0 / sums["rms"][members] ** 2  # per member, constant over its cutout
    a_jj, b = sums["kk"][members], sums["dk"][members]
    weighted = overlaps["a"] * w[j]

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
    unstable[j[correlation > UNSTABLE_CORRELATION]] = True
    var = 1.0 / np.maximum(schur, 0.1 * a_jj)

    if with_triples:
        chi2 = _chi2_from_overlaps(flux, w, sums, members, pairs, overlaps)
    else:
        chi2 = _chi2_from_residuals(data, x, y, inv_cov, half, members, pairs, flux) * w
    return flux, var, chi2, unstable


def _overlaps(data, x, y, inv_cov, half, members, pairs, with_triples: bool) -> dict:
    """Unweighted sums on cutout j per pair (j <- k): ``a`` = K_j K_k, ``c`` = d K_k,
    ``q`` = K_k^2; per triple (j <- k, l): K_k K_l (``first``/``second`` pair indices)."""
    out = {name: np.empty(len(pairs)) for name in ("a", "c", "q")}
    firsts, seconds, values = [], [], []
    for _, d, usable, k_own, ps, local_j, k_nb in _member_chunks(
        data, x, y, inv_cov, half, members, pairs
    ):
        out["a"][ps] = np.einsum("nij,nij->n", k_own[local_j], k_nb)
        if not with_triples:
            continue
        k_nb *= usable[local_j]
        out["c"][ps] = np.einsum("nij,nij->n", d[local_j], k_nb)
        out["q"][ps] = np.einsum("nij,nij->n", k_nb, k_nb)
        for offset in range(1, local_j.size):  # pairs sorted by j: same j is contiguous
            first = np.flatnonzero(local_j[:-offset] == local_j[offset:])
            if first.size == 0:
                break
            firsts.append(first + ps.start)
            seconds.append(first + offset + ps.start)
            values.append(np.einsum("nij,nij->n", k_nb[first], k_nb[first + offset]))
    empty = np.zeros(0, np.int64)
    out["first"] = np.concatenate(firsts) if firsts else empty
    out["second"] = np.concatenate(seconds) if seconds else empty
    out["triple"] = np.concatenate(values) if values else np.zeros(0)
    return out


def _chi2_from_overlaps(flux, w, sums, members, pairs, overlaps) -> np.ndarray:
    """chi2 = sum w (d - S_j K_j - sum_k S_k K_k)^2 over cutout j, expanded."""
    m = members.size
    j, k = pairs[:, 0], pairs[:, 1]
    s_j, s_k = flux[j], flux[k]
    a_jj, b = sums["kk"][members], sums["dk"][members]
    chi2 = sums["dd"][members] - 2 * flux * b + flux**2 * a_jj
    per_pair = -2 * s_k * overlaps["c"] + 2 * s_j * s_k * overlaps["a"] + s_k**2 * overlaps["q"]
    chi2 += np.bincount(j, w[j] * per_pair, minlength=m)
    first, second = overlaps["first"], overlaps["second"]
    cross = 2 * w[j[first]] * flux[k[first]] * flux[k[second]] * overlaps["triple"]
    return chi2 + np.bincount(j[first], cross, minlength=m)


def _chi2_from_residuals(data, x, y, inv_cov, half, members, pairs, flux) -> np.ndarray:
    """Unweighted sum of squared residuals on each member's cutout (a second pass)."""
    k = pairs[:, 1]
    chi2 = np.empty(members.size)
    for ms, d, usable, k_own, ps, local_j, k_nb in _member_chunks(
        data, x, y, inv_cov, half, members, pairs
    ):
        model = k_own * flux[ms][:, None, None]
        k_nb *= flux[k[ps]][:, None, None]
        starts = np.flatnonzero(np.r_[True, np.diff(local_j) != 0])
        rank = np.arange(local_j.size) - np.repeat(starts, np.diff(np.r_[starts, local_j.size]))
        for r in range(int(rank.max(initial=-1)) + 1):  # one j per rank: no duplicates
            pick = rank == r
            model[local_j[pick]] += k_nb[pick]
        resid = (d - model) * usable
        chi2[ms] = np.einsum("nij,nij->n", resid, resid)
    return chi2
