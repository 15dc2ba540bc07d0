"""Frequency-binned visibilities for gain solves with a fixed bandpass.

A gain solved across the band against a fixed bandpass (the tile gains
between transits) needs one value per antenna and polarisation, not the
768 channels. The data, bandpass applied, and the model are averaged in
bins of ``k`` adjacent channels before the solve, so the model is predicted
at 1/k of the channels (:func:`~.model.predict_binned`, the exact mean of
the per-channel model over the bin, bandwidth smearing included).

With ``F = B_1 conj(B_2)`` the bandpass of a baseline and ``U = V / F`` its
corrected data, a bin's value is the plain mean of ``U`` over its ``k``
channels (whose expectation is the gain times the bin's mean model, exactly)
with weight ``w k**2 / sum(1 / |F|**2)``, its inverse variance: the least
squares of the binned problem then matches the per-channel one up to the
information in the fringe's variation within a bin. A bin with any channel
unusable (flagged data or bandpass, or under the uv cut at that channel) is
dropped whole: the mean of its other channels would need its own model. The
weight is folded into the data and the model (both times
``sqrt(k**2 / sum(1 / |F|**2))``) since the accumulator takes one weight
per row and polarisation.
"""

from __future__ import annotations

import numba
import numpy as np

from dsa110_contimg.calibration.solutions import JonesSolutions


def bin_width(n_chan: int, chan_bin: int) -> int:
    """The largest divisor of ``n_chan`` not above ``chan_bin`` (bins hold whole channels)."""
    k = max(1, min(int(chan_bin), n_chan))
    while n_chan % k:
        k -= 1
    return k


def binned_bandpass(bandpass: JonesSolutions, k: int) -> JonesSolutions:
    """The bandpass as the binned data see it: unit gains, a bin flagged if any channel is.

    The bandpass itself is applied to the data by :func:`bin_chunk`; this
    stands in for it in the gain solve (its flags choose the reference
    antenna as the full bandpass's would).
    """
    nt, na, nchan, npol = bandpass.gains.shape
    nbin = nchan // k
    flags = bandpass.flags.reshape(nt, na, nbin, k, npol).any(axis=3)
    snr = bandpass.snr.reshape(nt, na, nbin, k, npol).min(axis=3)
    return JonesSolutions(
        bandpass.kind,
        np.where(flags, 0, 1).astype(bandpass.gains.dtype),
        flags,
        snr,
        bandpass.times_s,
        bandpass.interval_s,
        bandpass.antennas,
        np.asarray(bandpass.freqs_hz, float).reshape(nbin, k).mean(axis=1),
        bandpass.refant,
        {**bandpass.meta, "chan_bin": k},
    )


def bin_chunk(
    ch,
    model: np.ndarray,
    bandpass: JonesSolutions,
    k: int,
    cut_freqs_hz: np.ndarray,
    uvmin_lambda: float,
) -> None:
    """Replace a chunk's data, flags and model by their bandpass-corrected bin means.

    Parameters
    ----------
    ch : VisChunk
        Rows at full resolution (``data``, ``flag`` shaped (rows, Nchan, Npol),
        ``ant1``/``ant2`` MS antenna ids); changed in place to Nchan / k bins.
    model : numpy.ndarray
        Shape (rows, Nchan / k): the bin-mean model (:func:`~.model.predict_binned`).
    bandpass : JonesSolutions
        The fixed bandpass at full resolution, antenna axis = MS antenna ids.
    k : int
        Channels per bin (divides Nchan).
    cut_freqs_hz : numpy.ndarray
        Shape (Nchan,): the frequency converting each channel's uv cut.
    uvmin_lambda : float
        Channels of baselines shorter than this (wavelengths) are unusable.
    """
    from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S

    rows, nchan, npol = ch.data.shape
    data = np.empty((rows, nchan // k, npol), np.complex64)
    flag = np.empty(data.shape, bool)
    scale = np.empty(data.shape, np.float32)
    _bin_kernel(
        ch.data,
        ch.flag,
        np.asarray(ch.ant1, np.int64),
        np.asarray(ch.ant2, np.int64),
        np.ascontiguousarray(bandpass.gains[0], np.complex128),
        np.ascontiguousarray(bandpass.flags[0]),
        np.hypot(ch.uvw_m[:, 0], ch.uvw_m[:, 1]),
        np.asarray(cut_freqs_hz, float) / SPEED_OF_LIGHT_M_S,
        float(uvmin_lambda),
        k,
        data,
        flag,
        scale,
    )
    ch.data, ch.flag = data, flag
    ch.model = (model[:, :, None] * scale).astype(np.complex64)


@numba.njit(cache=True, nogil=True)
def _bin_kernel(
    data, flag, ant1, ant2, gains, gflags, uv_m, inv_lambda, uvmin, k, out, out_flag, scale
):  # pragma: no cover - compiled
    rows, nchan, npol = data.shape
    na = gains.shape[0]
    for r in range(rows):
        a1, a2 = ant1[r], ant2[r]
        cross = a1 != a2 and a1 < na and a2 < na
        for b in range(nchan // k):
            for p in range(npol):
                ok = cross
                acc = 0j
                inv = 0.0
                for j in range(k):
                    if not ok:
                        break
                    c = b * k + j
                    if flag[r, c, p] or gflags[a1, c, p] or gflags[a2, c, p]:
                        ok = False
                    elif uv_m[r] * inv_lambda[c] <= uvmin:
                        ok = False
                    else:
                        f = gains[a1, c, p] * np.conj(gains[a2, c, p])
                        m2 = f.real * f.real + f.imag * f.imag
                        if m2 <= 0.0:
                            ok = False
                        else:
                            acc += data[r, c, p] * np.conj(f) / m2
                            inv += 1.0 / m2
                if ok:
                    s = k / np.sqrt(inv)
                    out[r, b, p] = acc / k * s
                    scale[r, b, p] = s
                    out_flag[r, b, p] = False
                else:
                    out[r, b, p] = 0
                    scale[r, b, p] = 0
                    out_flag[r, b, p] = True
