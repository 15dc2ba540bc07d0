"""The visibility engine: point sources to fringe-stopped visibilities.

For a phase centre ``s0`` and a source in direction ``s`` (ENU unit vectors),
the visibility of baseline (i, j) in pyuvdata's convention (the UVH5
convention: uvw = x_j - x_i) is

    V_ij(f) = sum_s S_s(f) exp(+2 pi i f / c  (x_j - x_i) . (s - s0))

i.e. ``exp(+2 pi i (u l + v m + w (n - 1)) / lambda)``. The sign is not a
choice: it is the one with which pyuvdata's ``phase()`` brings a source to
zero phase, which the tests check on the written files. The exponent
separates by antenna, so with per-antenna phasors
``a_is = exp(-2 pi i f x_i . (s - s0) / c)`` the whole correlation matrix is
one complex matrix product per channel, ``A diag(S) A^H``, which BLAS does far
faster than a sum over baselines. :func:`direct_sum` is the plain
per-baseline sum, kept as the reference the tests compare against.
"""

from __future__ import annotations

import numpy as np

from dsa110_contimg.simulate.geometry import baseline_uvw, uvw_axes
from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S

#: Channels per block in :func:`predict` (bounds the phasor array's memory).
CHANNEL_BLOCK = 64


def _phasors(delay_m: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """exp(-2 pi i f d / c) as complex64, shape (F, *delay.shape).

    The number of turns is formed in float64 and reduced to [-0.5, 0.5]
    before the float32 sine and cosine, so phases stay exact to ~1e-6 rad
    however long the baseline.
    """
    turns = (freqs_hz / SPEED_OF_LIGHT_M_S)[:, None, None] * delay_m[None]
    turns -= np.rint(turns)
    angle = (2 * np.pi * turns).astype(np.float32)
    out = np.empty(angle.shape, np.complex64)
    np.cos(angle, out=out.real)
    np.sin(angle, out=out.imag)
    np.negative(out.imag, out=out.imag)
    return out


def predict(
    antenna_enu_m: np.ndarray,
    directions: np.ndarray,
    centre: np.ndarray,
    apparent_flux_jy: np.ndarray,
    freqs_hz: np.ndarray,
    ant1: np.ndarray,
    ant2: np.ndarray,
) -> np.ndarray:
    """Model visibilities of point sources for one integration.

    Parameters
    ----------
    antenna_enu_m : (Na, 3) float
        Antenna positions, metres, ENU.
    directions : (Ns, 3) float
        Source unit vectors, ENU.
    centre : (3,) float
        Phase-centre unit vector, ENU.
    apparent_flux_jy : (Ns, F) float
        Flux of each source at each frequency as the array sees it (already
        multiplied by the primary beam), Jy.
    freqs_hz : (F,) float
    ant1, ant2 : (Nbl,) int
        Indices into ``antenna_enu_m``; autocorrelations allowed.

    Returns
    -------
    (Nbl, F) complex64
        Visibilities, Jy.
    """
    delay_m = antenna_enu_m @ (directions - centre).T  # (Na, Ns)
    flux = np.ascontiguousarray(apparent_flux_jy.T, dtype=np.float32)  # (F, Ns)
    out = np.empty((len(ant1), len(freqs_hz)), np.complex64)
    for start in range(0, len(freqs_hz), CHANNEL_BLOCK):
        block = slice(start, start + CHANNEL_BLOCK)
        a = _phasors(delay_m, freqs_hz[block])  # (F, Na, Ns)
        corr = np.matmul(a * flux[block, None, :], a.conj().transpose(0, 2, 1))  # (F, Na, Na)
        out[:, block] = corr[:, ant1, ant2].T
    return out


def direct_sum(
    antenna_enu_m: np.ndarray,
    directions: np.ndarray,
    centre: np.ndarray,
    apparent_flux_jy: np.ndarray,
    freqs_hz: np.ndarray,
    ant1: np.ndarray,
    ant2: np.ndarray,
) -> np.ndarray:
    """The same visibilities as :func:`predict`, by a plain sum over sources (slow).

    Uses the textbook form with uvw and direction cosines (l, m, n) in the
    phase centre's frame; complex128.
    """
    uvw = baseline_uvw(antenna_enu_m, ant1, ant2, centre)  # (Nbl, 3)
    lmn = directions @ uvw_axes(centre).T  # (Ns, 3)
    lmn[:, 2] -= 1.0
    vis = np.zeros((len(ant1), len(freqs_hz)), np.complex128)
    for s in range(len(directions)):
        path_m = uvw @ lmn[s]  # (Nbl,)
        vis += apparent_flux_jy[s][None, :] * np.exp(
            2j * np.pi * path_m[:, None] * freqs_hz[None, :] / SPEED_OF_LIGHT_M_S
        )
    return vis
