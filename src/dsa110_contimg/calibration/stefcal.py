"""StEFCal-style alternating least squares for antenna gains, batched.

Each batch element (e.g. one channel and polarisation) is an independent
problem: find ``g`` (Na,) minimising::

    sum_{t, i<j} w |V_ij - g_i conj(g_j) M_ij|^2

The data enter only through per-baseline sums over the samples of a
solution cell (see :mod:`.accumulate`): ``X_ij = sum w V conj(M)`` and
``Y_ij = sum w |M|^2``, filled into Hermitian (X) and symmetric (Y)
Na x Na matrices. With ``conj(g_j)`` held fixed the problem is linear in
``g_i``, giving the update ``g_i = sum_j X_ij g_j / sum_j Y_ij |g_j|^2``;
every second iteration averages the new and old estimates, which makes the
iteration converge (Salvini & Wijnholds 2014). All batch elements are
updated together with batched matrix-vector products.

A batch element still changing by more than ``tol`` after ``max_iter``
iterations has not converged: its gains are a snapshot of an iteration in
progress, so all of them are flagged (``StefcalResult.unconverged``) and the
caller reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StefcalResult:
    """Solutions of one batched solve.

    Attributes
    ----------
    gains : numpy.ndarray
        Shape (B, Na) complex128; 0 where flagged. Not phase-referenced.
    flags : numpy.ndarray
        Shape (B, Na) bool: no solution (too few baselines, no data).
    snr : numpy.ndarray
        Shape (B, Na) float: ``|g| / sigma_g`` from the residual noise.
    iterations : int
        Iterations run (the slowest batch element's).
    unconverged : numpy.ndarray
        Shape (B,) bool: still changing by more than ``tol`` at
        ``max_iter``; every antenna of such an element is flagged.
    """

    gains: np.ndarray
    flags: np.ndarray
    snr: np.ndarray
    iterations: int
    unconverged: np.ndarray


def usable_antennas(y: np.ndarray, min_baselines: int) -> np.ndarray:
    """Find antennas with at least ``min_baselines`` baselines to other usable ones.

    Dropping an antenna can push its partners under the limit, so this
    repeats until nothing changes.

    Parameters
    ----------
    y : numpy.ndarray
        Shape (B, Na, Na): summed weights x |model|^2 (0 where no data).
    min_baselines : int
        Minimum number of baselines with data.

    Returns
    -------
    numpy.ndarray
        Shape (B, Na) bool.
    """
    has = y > 0
    ok = has.any(axis=-1)
    while True:
        count = np.einsum("bij,bj->bi", has, ok, dtype=np.int32)
        new_ok = ok & (count >= min_baselines)
        if np.array_equal(new_ok, ok):
            return ok
        ok = new_ok


def stefcal(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray | None = None,
    n: np.ndarray | None = None,
    *,
    phase_only: bool = False,
    min_baselines: int = 4,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> StefcalResult:
    """Solve for antenna gains in every batch element at once.

    Parameters
    ----------
    x : numpy.ndarray
        Shape (B, Na, Na) complex, Hermitian: ``sum w V_ij conj(M_ij)``.
    y : numpy.ndarray
        Shape (B, Na, Na) real, symmetric: ``sum w |M_ij|^2``.
    z : numpy.ndarray, optional
        Shape (B, Na, Na): ``sum w |V_ij|^2``; with ``n`` gives the SNR.
    n : numpy.ndarray, optional
        Shape (B, Na, Na): number of samples summed.
    phase_only : bool
        Solve phases only (``|g| = 1``).
    min_baselines : int
        Antennas with fewer baselines with data are flagged.
    max_iter : int
        Iteration limit.
    tol : float
        Stop when the relative change of every batch element's gain
        vector falls below this (squared norm ratio).

    Returns
    -------
    StefcalResult
    """
    ok = usable_antennas(y, min_baselines)
    keep = ok[:, :, None] & ok[:, None, :]
    x = np.where(keep, x, 0)
    y = np.where(keep, y, 0)
    g = ok.astype(np.complex128)
    active = np.arange(len(g))  # batch elements still iterating
    pending = active[:0]  # those not converged after the last iteration
    xs, ys = x, y
    it = 0
    for it in range(1, max_iter + 1):
        gs = g[active]
        num = np.einsum("bij,bj->bi", xs, gs)
        den = np.einsum("bij,bj->bi", ys, np.abs(gs) ** 2)
        if phase_only:
            new = _unit(num)
        else:
            new = np.where(den > 0, num / np.where(den > 0, den, 1), 0)
        if it % 2 == 0:
            new = 0.5 * (new + gs)
            if phase_only:
                new = _unit(new)
        change = np.sum(np.abs(new - gs) ** 2, -1) / np.maximum(
            np.sum(np.abs(new) ** 2, -1), 1e-300
        )
        g[active] = new
        still = change > tol
        pending = active[still]
        if not still.any():
            break
        if still.sum() < 0.5 * still.size:  # shrink the working set (copies cost)
            active, xs, ys = active[still], xs[still], ys[still]
    unconverged = np.zeros(len(g), bool)
    unconverged[pending] = True
    flags = ~ok | (g == 0) | unconverged[:, None]
    snr = _snr(g, flags, x, y, z, n, phase_only)
    return StefcalResult(np.where(flags, 0, g), flags, snr, it, unconverged)


def _unit(z: np.ndarray) -> np.ndarray:
    """``z / |z|``, 0 where ``z`` is 0."""
    amp = np.abs(z)
    return np.where(amp > 0, z / np.where(amp > 0, amp, 1), 0)


def _snr(g, flags, x, y, z, n, phase_only) -> np.ndarray:
    """``|g| / sigma_g`` with the noise per unit weight estimated from the residuals.

    The residual ``chi2_ij = Z - 2 Re(conj(G) X) + |G|^2 Y`` with
    ``G = g_i conj(g_j)`` summed over baselines gives the variance per unit
    weight ``s2 = chi2 / (N - dof)``; then ``var(g_i) = s2 / sum_j Y_ij |g_j|^2``.
    """
    if z is None or n is None:
        return np.full(g.shape, np.inf)
    gg = g[:, :, None] * np.conj(g[:, None, :])
    chi2 = z - 2 * np.real(np.conj(gg) * x) + np.abs(gg) ** 2 * y
    used = (y > 0) & ~flags[:, :, None] & ~flags[:, None, :]
    chi2_sum = np.sum(np.where(used, chi2, 0), axis=(1, 2)) / 2  # each baseline twice
    n_sum = np.sum(np.where(used, n, 0), axis=(1, 2)) / 2
    dof = np.sum(~flags, -1) * (1 if phase_only else 2) / 2  # complex samples' worth
    s2 = np.maximum(chi2_sum, 0) / np.maximum(n_sum - dof, 1)
    info = np.einsum("bij,bj->bi", np.where(used, y, 0), np.abs(g) ** 2)
    sigma = np.sqrt(s2[:, None] / np.where(info > 0, info, np.inf))
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(sigma > 0, np.abs(g) / sigma, np.inf)
    return np.where(flags, 0.0, snr)
