"""Compiled per-baseline loops of the flagging sequence (numba, GIL released).

Every kernel works on the (Ntimes, Nbls, Nchan, Npol) cube in place of
whole-cube numpy expressions: a full group is 1.3 GB of visibilities, and
numpy's medians along the time axis, boolean means and morphology each
stream it several times (about 40 s of the 80 s a full group took). Here
each baseline is visited once per step while its 150 kB sit in cache, and
:func:`run_baselines` spreads the baselines over threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

MAD_TO_SIGMA = 1.482602218505602
"""Standard deviation of a Gaussian per unit median absolute deviation."""


def run_baselines(
    func: Callable[[np.ndarray], None], baselines: np.ndarray, workers: int | None = None
) -> None:
    """Call ``func(chunk)`` on contiguous chunks of ``baselines``, in threads."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(baselines)))
    if workers == 1:
        func(baselines)
        return
    chunks = np.array_split(baselines, 4 * workers)  # small chunks balance uneven baselines
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(func, [c for c in chunks if len(c)]))


@numba.njit(cache=True, nogil=True)
def _select(buf, n, k):  # pragma: no cover - compiled
    """The k-th smallest of buf[:n] (reorders buf; Wirth's quickselect)."""
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = buf[k]
        i, j = lo, hi
        while True:
            while buf[i] < pivot:
                i += 1
            while pivot < buf[j]:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
            if i > j:
                break
        if j < k:
            lo = i
        if k < i:
            hi = j
    return buf[k]


@numba.njit(cache=True, nogil=True)
def _median(buf, n):  # pragma: no cover - compiled
    """Median of buf[:n] (reorders buf); NaN when n == 0."""
    if n == 0:
        return np.nan
    upper = _select(buf, n, n // 2)
    if n % 2 == 1:
        return upper
    lower = buf[0]  # after selection buf[:n//2] holds the smaller half
    for i in range(1, n // 2):
        if buf[i] > lower:
            lower = buf[i]
    return 0.5 * (lower + upper)


@numba.njit(cache=True, nogil=True)
def mark_invalid(vis, flags, baselines):  # pragma: no cover - compiled
    """Flag exact zeros and non-finite samples of ``baselines`` (in place)."""
    nt, _, nc, npol = vis.shape
    for b in baselines:
        for t in range(nt):
            for c in range(nc):
                for p in range(npol):
                    v = vis[t, b, c, p]
                    if v == 0 or not (np.isfinite(v.real) and np.isfinite(v.imag)):
                        flags[t, b, c, p] = True


@numba.njit(cache=True, nogil=True)
def aoflagger_images(vis, flags, baselines, image, mask):  # pragma: no cover - compiled
    """AOFlagger's input for ``baselines``: time-flattened power, and any-pol flags.

    ``image[k]`` (Nchan, Ntimes) is sqrt(mean over polarisations of
    |V - median_t V|^2), the median taken per channel over the unflagged
    integrations, real and imaginary parts separately; ``mask[k]`` is True
    where any polarisation is flagged.
    """
    nt, _, nc, npol = vis.shape
    re = np.empty(nt, np.float32)
    im = np.empty(nt, np.float32)
    for k in range(len(baselines)):
        b = baselines[k]
        for c in range(nc):
            for t in range(nt):
                image[k, c, t] = 0.0
                mask[k, c, t] = False
            for p in range(npol):
                n = 0
                for t in range(nt):
                    if flags[t, b, c, p]:
                        mask[k, c, t] = True
                    else:
                        re[n] = vis[t, b, c, p].real
                        im[n] = vis[t, b, c, p].imag
                        n += 1
                level = 0j
                if n > 0:
                    level = _median(re, n) + 1j * _median(im, n)
                for t in range(nt):
                    r = vis[t, b, c, p] - level
                    image[k, c, t] += r.real * r.real + r.imag * r.imag
            for t in range(nt):  # flagged samples (maybe NaN) are masked: zero them
                image[k, c, t] = 0.0 if mask[k, c, t] else np.sqrt(image[k, c, t] / npol)


@numba.njit(cache=True, nogil=True)
def or_image_mask(flags, baselines, mask):  # pragma: no cover - compiled
    """flags[t, b, c, :] |= mask[k, c, t] for b = baselines[k]."""
    nt, _, nc, npol = flags.shape
    for k in range(len(baselines)):
        b = baselines[k]
        for t in range(nt):
            for c in range(nc):
                if mask[k, c, t]:
                    for p in range(npol):
                        flags[t, b, c, p] = True


@numba.njit(cache=True, nogil=True)
def mad_clip_baselines(vis, flags, baselines, sigma, smooth, stride, out):  # pragma: no cover
    """Flag |V| beyond ``sigma`` robust sigmas of a smooth spectral model (see ``mad_clip``).

    Model: per channel the median of |V| over unflagged integrations, then
    a running median over ``smooth`` channels. Robust sigma: 1.4826 x the
    median |residual| over unflagged integrations and every ``stride``-th
    channel. Statistics use ``flags``; new flags are OR-ed into ``out``
    (which may be ``flags`` itself: baselines are independent).
    """
    nt, _, nc, npol = vis.shape
    half = smooth // 2
    amp = np.empty((nt, nc), np.float32)
    spectrum = np.empty(nc, np.float32)
    model = np.empty(nc, np.float32)
    buf = np.empty(max(nt, smooth, nt * ((nc + stride - 1) // stride)), np.float32)
    for b in baselines:
        for p in range(npol):
            for c in range(nc):
                n = 0
                for t in range(nt):
                    a = np.abs(vis[t, b, c, p])
                    amp[t, c] = a
                    if not flags[t, b, c, p]:
                        buf[n] = a
                        n += 1
                spectrum[c] = _median(buf, n)
            for c in range(nc):
                n = 0
                for j in range(max(0, c - half), min(nc, c + half + 1)):
                    if np.isfinite(spectrum[j]):
                        buf[n] = spectrum[j]
                        n += 1
                model[c] = _median(buf, n)
            n = 0
            for c in range(0, nc, stride):
                for t in range(nt):
                    if not flags[t, b, c, p] and np.isfinite(model[c]):
                        buf[n] = abs(amp[t, c] - model[c])
                        n += 1
            mad = _median(buf, n)
            if not (np.isfinite(mad) and mad > 0):
                continue
            limit = sigma * MAD_TO_SIGMA * mad
            for c in range(nc):
                for t in range(nt):
                    if abs(amp[t, c] - model[c]) > limit:
                        out[t, b, c, p] = True


@numba.njit(cache=True, nogil=True)
def extend_baselines(
    flags, baselines, channel_fraction, time_fraction, dilate_channels, dilate_times, out
):  # pragma: no cover - compiled
    """Whole channels / integrations above the fractions, plus a cross-shaped dilation.

    Reads ``flags``, writes ``out`` (a different array holding a copy of
    ``flags``) for ``baselines``.
    """
    nt, _, nc, npol = flags.shape
    for b in baselines:
        for p in range(npol):
            for c in range(nc):
                count = 0
                for t in range(nt):
                    count += flags[t, b, c, p]
                if count > channel_fraction * nt:
                    for t in range(nt):
                        out[t, b, c, p] = True
            for t in range(nt):
                count = 0
                for c in range(nc):
                    count += flags[t, b, c, p]
                if count > time_fraction * nc:
                    for c in range(nc):
                        out[t, b, c, p] = True
            for t in range(nt):
                for c in range(nc):
                    if not flags[t, b, c, p]:
                        continue
                    for d in range(max(0, c - dilate_channels), min(nc, c + dilate_channels + 1)):
                        out[t, b, d, p] = True
                    for d in range(max(0, t - dilate_times), min(nt, t + dilate_times + 1)):
                        out[d, b, c, p] = True


@numba.njit(cache=True, nogil=True)
def count_over_time(flags, baselines, counts):  # pragma: no cover - compiled
    """counts[b, c, p] = number of flagged integrations."""
    nt, _, nc, npol = flags.shape
    for b in baselines:
        for c in range(nc):
            for p in range(npol):
                n = 0
                for t in range(nt):
                    n += flags[t, b, c, p]
                counts[b, c, p] = n
