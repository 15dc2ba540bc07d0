"""Compiled per-source loops of forced photometry (numba, GIL released).

Every loop visits a source's square window of pixels around its nearest
pixel, clipped to the image, while the window sits in cache. The beam kernel
``exp(-(a dx^2 + 2 b dx dy + c dy^2) / 2)`` is evaluated on a window as
``exp(-a dx^2 / 2)`` (one exponential per column) times ``exp(-c dy^2 / 2)``
(one per row) times ``exp(-b dy dx)``, a geometric sequence along the row:
no exponential per pixel (:func:`_gaussian_on`).

* :func:`matched_filter_sums`: the single-source sums ``d K``, ``K K``,
  ``d d`` and the usable-pixel count of every cutout, with edge and blanking
  flags;
* :func:`gaussian_overlaps`: ``sum K_j K_k`` over the whole pixel lattice
  in closed form, and :func:`pixel_overlaps`: the same over the usable
  pixels of cutout ``j`` (joint fits; see
  :mod:`~dsa110_contimg.photometry.blends`);
* :func:`paint_gaussians` and :func:`residual_sums`: a model image of fitted
  sources and the squared residuals on each cutout (joint fits' chi-square).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _window(xc, yc, half, ny, nx):  # pragma: no cover - compiled
    """Pixel bounds [x0, x1) x [y0, y1) of a window, clipped to the image."""
    return max(xc - half, 0), min(xc + half + 1, nx), max(yc - half, 0), min(yc + half + 1, ny)


@numba.njit(cache=True, nogil=True)
def _gaussian_on(buf, x, y, p, x0, x1, y0, y1):  # pragma: no cover - compiled
    """Fill ``buf[:y1-y0, :x1-x0]`` with the peak-1 Gaussian of inverse covariance ``p`` at (x, y)."""
    a, b, c = p[0, 0], p[0, 1], p[1, 1]
    for px in range(x0, x1):
        dx = px - x
        buf[0, px - x0] = np.exp(-0.5 * a * dx * dx)  # row 0 holds the column factors for now
    for py in range(y1 - 1, y0 - 1, -1):  # row 0 last: it is read by every row
        dy = py - y
        row = np.exp(-0.5 * c * dy * dy)
        cross = np.exp(-b * dy * (x0 - x))
        step = np.exp(-b * dy)
        for px in range(x0, x1):
            buf[py - y0, px - x0] = row * buf[0, px - x0] * cross
            cross *= step


@numba.njit(cache=True, nogil=True)
def matched_filter_sums(data, x, y, inv_cov, half):  # pragma: no cover - compiled
    """Single-source sums over each cutout's usable (finite, on-image) pixels.

    Returns ``dk``, ``kk``, ``dd`` (unweighted), ``n_pix``, and two booleans:
    the cutout reaches beyond the image, it holds non-finite pixels.
    """
    n = x.size
    ny, nx = data.shape
    dk, kk, dd = np.zeros(n), np.zeros(n), np.zeros(n)
    n_pix = np.zeros(n, np.int64)
    edge = np.zeros(n, np.bool_)
    blanked = np.zeros(n, np.bool_)
    buf = np.empty((2 * half + 1, 2 * half + 1))
    for i in range(n):
        xc, yc = int(np.rint(x[i])), int(np.rint(y[i]))
        x0, x1, y0, y1 = _window(xc, yc, half, ny, nx)
        edge[i] = x1 - x0 < 2 * half + 1 or y1 - y0 < 2 * half + 1
        if x1 <= x0 or y1 <= y0:
            continue
        _gaussian_on(buf, x[i], y[i], inv_cov[i], x0, x1, y0, y1)
        s_dk = s_kk = s_dd = 0.0
        count = 0
        for py in range(y0, y1):
            for px in range(x0, x1):
                d = data[py, px]
                if np.isfinite(d):
                    k = buf[py - y0, px - x0]
                    s_dk += d * k
                    s_kk += k * k
                    s_dd += d * d
                    count += 1
        dk[i], kk[i], dd[i], n_pix[i] = s_dk, s_kk, s_dd, count
        blanked[i] = count < (x1 - x0) * (y1 - y0)
    return dk, kk, dd, n_pix, edge, blanked


_LATTICE = ((1, 0), (0, 1), (1, 1), (1, -1))
"""Half of the nonzero lattice vectors with components in {-1, 0, 1}."""


@numba.njit(cache=True, nogil=True)
def gaussian_overlaps(x, y, inv_cov, j, k):  # pragma: no cover - compiled
    """Sum over all pixels of ``K_j K_k`` (peak-1 Gaussians), for each pair (j[i], k[i]).

    The product of the two Gaussians is a Gaussian of inverse covariance
    ``P = P_j + P_k``; its integral is
    ``2 pi / sqrt(det P) exp(-r^T (C_j + C_k)^-1 r / 2)`` (``C`` covariances,
    ``r`` the separation). The sum over the pixel lattice is that times
    ``1 + 2 sum_m exp(-2 pi^2 m^T P^-1 m) cos(2 pi m . mu)`` (Poisson
    summation, ``mu`` the product's centre) over the lattice vectors with
    components in {-1, 0, 1}; the next terms are below 1e-12 for beams of
    2 pixels FWHM or more.
    """
    out = np.empty(j.size)
    for i in range(j.size):
        a, b = j[i], k[i]
        ja, jb, jc = inv_cov[a, 0, 0], inv_cov[a, 0, 1], inv_cov[a, 1, 1]
        ka, kb, kc = inv_cov[b, 0, 0], inv_cov[b, 0, 1], inv_cov[b, 1, 1]
        det_j, det_k = ja * jc - jb * jb, ka * kc - kb * kb
        # S = C_j + C_k (2x2 inverses written out); q = r^T S^-1 r
        sxx, syy, sxy = jc / det_j + kc / det_k, ja / det_j + ka / det_k, -jb / det_j - kb / det_k
        dx, dy = x[b] - x[a], y[b] - y[a]
        q = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / (sxx * syy - sxy * sxy)
        pa, pb, pc = ja + ka, jb + kb, jc + kc
        det_p = pa * pc - pb * pb
        # centre mu = P^-1 (P_j r_j + P_k r_k) and covariance C = P^-1 of the product
        rx = ja * x[a] + jb * y[a] + ka * x[b] + kb * y[b]
        ry = jb * x[a] + jc * y[a] + kb * x[b] + kc * y[b]
        cxx, cyy, cxy = pc / det_p, pa / det_p, -pb / det_p
        mux, muy = cxx * rx + cxy * ry, cxy * rx + cyy * ry
        sampling = 1.0
        for mx, my in _LATTICE:
            var = cxx * mx * mx + 2 * cxy * mx * my + cyy * my * my
            phase = 2 * np.pi * (mx * mux + my * muy)
            sampling += 2 * np.exp(-2 * np.pi**2 * var) * np.cos(phase)
        out[i] = 2 * np.pi / np.sqrt(det_p) * np.exp(-0.5 * q) * sampling
    return out


@numba.njit(cache=True, nogil=True)
def pixel_overlaps(data, x, y, inv_cov, half, j, k):  # pragma: no cover - compiled
    """``sum K_j K_k`` over the usable pixels of cutout ``j``, for each pair (j[i], k[i])."""
    ny, nx = data.shape
    out = np.zeros(j.size)
    own = np.empty((2 * half + 1, 2 * half + 1))
    other = np.empty_like(own)
    for i in range(j.size):
        a, b = j[i], k[i]
        x0, x1, y0, y1 = _window(int(np.rint(x[a])), int(np.rint(y[a])), half, ny, nx)
        if x1 <= x0 or y1 <= y0:
            continue
        _gaussian_on(own, x[a], y[a], inv_cov[a], x0, x1, y0, y1)
        _gaussian_on(other, x[b], y[b], inv_cov[b], x0, x1, y0, y1)
        total = 0.0
        for py in range(y0, y1):
            for px in range(x0, x1):
                if np.isfinite(data[py, px]):
                    total += own[py - y0, px - x0] * other[py - y0, px - x0]
        out[i] = total
    return out


@numba.njit(cache=True, nogil=True)
def paint_gaussians(model, x, y, inv_cov, amplitude, half):  # pragma: no cover - compiled
    """Add ``amplitude[i]`` x kernel ``i`` to ``model`` over its window (non-finite skipped)."""
    ny, nx = model.shape
    buf = np.empty((2 * half + 1, 2 * half + 1))
    for i in range(x.size):
        if not np.isfinite(amplitude[i]):
            continue
        x0, x1, y0, y1 = _window(int(np.rint(x[i])), int(np.rint(y[i])), half, ny, nx)
        if x1 <= x0 or y1 <= y0:
            continue
        _gaussian_on(buf, x[i], y[i], inv_cov[i], x0, x1, y0, y1)
        for py in range(y0, y1):
            for px in range(x0, x1):
                model[py, px] += amplitude[i] * buf[py - y0, px - x0]


@numba.njit(cache=True, nogil=True)
def residual_sums(data, model, x, y, half):  # pragma: no cover - compiled
    """Sum of ``(data - model)^2`` over each cutout's finite, on-image pixels."""
    ny, nx = data.shape
    out = np.zeros(x.size)
    for i in range(x.size):
        x0, x1, y0, y1 = _window(int(np.rint(x[i])), int(np.rint(y[i])), half, ny, nx)
        total = 0.0
        for py in range(y0, y1):
            for px in range(x0, x1):
                d = data[py, px]
                if np.isfinite(d):
                    r = d - model[py, px]
                    total += r * r
        out[i] = total
    return out
