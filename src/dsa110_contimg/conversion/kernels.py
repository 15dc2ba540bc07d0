"""The converter's hot loop, compiled with numba.

One pass per subband and integration places the file's channels in the
ascending band, rotates them to the tile centre and conjugates the rows CASA
stores the other way round. The rotation ``exp(-2 pi i dw f / c)`` is formed
exactly at each subband's first channel and advanced by a per-channel phasor
(48 steps: the drift is ~1e-14 in complex128), so a sine and cosine are taken
per baseline and subband instead of per visibility.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S

_TWO_PI_OVER_C = 2.0 * math.pi / SPEED_OF_LIGHT_M_S


@numba.njit(parallel=True, nogil=True, cache=True)
def place_subband(
    out_vis: np.ndarray,
    out_flag: np.ndarray,
    vis: np.ndarray,
    flags: np.ndarray,
    dw_m: np.ndarray,
    band_freqs_hz: np.ndarray,
    first_channel: int,
    descending: bool,
    conj: np.ndarray,
) -> None:
    """Rotate one subband's block into the band arrays.

    Parameters
    ----------
    out_vis, out_flag : (Nbl, Nchan_band, Npol) complex64 / bool
        The integration's band arrays, written in place.
    vis, flags : (Nbl, Nch, Npol) complex64 / bool
        The file's block, channels in the file's order.
    dw_m : (Nbl,) float64
        w(tile centre) - w(fringe-stop centre), metres, pyuvdata's convention.
    band_freqs_hz : (Nchan_band,) float64, ascending.
    first_channel : int
        Band index of the subband's lowest channel.
    descending : bool
        The file's channels run downward.
    conj : (Nbl,) bool
        Rows stored conjugated in the MS.
    """
    nbl, nch, npol = vis.shape
    vin = vis.view(np.float32)  # (Nbl, Nch, 2 Npol): re, im interleaved
    vout = out_vis.view(np.float32)
    for b in numba.prange(nbl):
        f0 = band_freqs_hz[first_channel]
        df = band_freqs_hz[first_channel + 1] - f0 if nch > 1 else 0.0
        turns = dw_m[b] * f0 / SPEED_OF_LIGHT_M_S
        turns -= math.floor(turns + 0.5)
        angle = -2.0 * math.pi * turns
        cr, ci = math.cos(angle), math.sin(angle)
        step_angle = -_TWO_PI_OVER_C * dw_m[b] * df
        sr, si = math.cos(step_angle), math.sin(step_angle)
        sign = np.float32(-1.0) if conj[b] else np.float32(1.0)
        for k in range(nch):
            src = nch - 1 - k if descending else k
            c = first_channel + k
            r32, i32 = np.float32(cr), np.float32(ci)
            for p in range(npol):
                re = vin[b, src, 2 * p]
                im = vin[b, src, 2 * p + 1]
                vout[b, c, 2 * p] = re * r32 - im * i32
                vout[b, c, 2 * p + 1] = sign * (re * i32 + im * r32)
                out_flag[b, c, p] = flags[b, src, p]
            cr, ci = cr * sr - ci * si, cr * si + ci * sr
