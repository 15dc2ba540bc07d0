"""Background and rms maps: sigma-clipped box statistics, interpolated.

The image is cut into square boxes; in each, the median and the rms are
re-estimated after clipping pixels beyond ``clip`` rms from the median,
``iterations`` times (vectorised over all boxes at once; the rms of the
clipped pixels is corrected for the truncation, e.g. / 0.9866 at 3 sigma). Boxes with less than half their pixels finite borrow the nearest good
box's values. The coarse grids are interpolated bilinearly to every pixel.
Sources bias the rms little as long as they cover a small part of each box
(the clipping removes their bright cores).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special

MAD_TO_SIGMA = 1.482602218505602
"""Gaussian sigma per median absolute deviation."""


def _clip_correction(clip: float) -> float:
    """std of a Gaussian truncated at +-clip sigma, in sigma."""
    inside = 2 * special.ndtr(clip) - 1
    density = np.exp(-0.5 * clip**2) / np.sqrt(2 * np.pi)
    return float(np.sqrt(1 - 2 * clip * density / inside))


def _box_stats(blocks: np.ndarray, clip: float, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Clipped median and rms of each row of ``blocks`` (NaN = missing).

    Each row is sorted once; a clipping window is then a contiguous range of
    it, whose median is read by position and whose mean and variance come
    from prefix sums: each iteration costs a count, not a new median.
    """
    values = np.sort(blocks, axis=-1)  # NaN sort last
    n_valid = np.isfinite(values).sum(-1)
    shift = np.take_along_axis(values, np.maximum(n_valid - 1, 0)[:, None] // 2, -1)
    centred = np.nan_to_num(values - shift)
    prefix = np.zeros((len(values), values.shape[1] + 1))
    prefix2 = np.zeros_like(prefix)
    np.cumsum(centred, axis=-1, out=prefix[:, 1:])
    np.cumsum(centred * centred, axis=-1, out=prefix2[:, 1:])
    lo, hi = np.zeros_like(n_valid), n_valid.copy()
    rows = np.arange(len(values))
    correction = 1.0
    for _ in range(iterations + 1):
        count = np.maximum(hi - lo, 1)
        left = np.clip(lo + (count - 1) // 2, 0, values.shape[1] - 1)
        right = np.clip(lo + count // 2, 0, values.shape[1] - 1)
        median = 0.5 * (values[rows, left] + values[rows, right])
        mean = (prefix[rows, hi] - prefix[rows, lo]) / count
        var = (prefix2[rows, hi] - prefix2[rows, lo]) / count - mean**2
        rms = np.sqrt(np.maximum(var, 0.0) * count / np.maximum(count - 1, 1)) / correction
        lo = (values < (median - clip * rms)[:, None]).sum(-1)
        hi = (values <= (median + clip * rms)[:, None]).sum(-1)
        correction = _clip_correction(clip)
    bad = n_valid == 0
    median[bad] = rms[bad] = np.nan
    return median, rms


def background_rms_map(
    data: np.ndarray, box: int = 64, clip: float = 3.0, iterations: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the background and rms at every pixel.

    Parameters
    ----------
    data : numpy.ndarray
        Image, shape (ny, nx), any units (NaN = blanked).
    box : int
        Box side, pixels (default 64: 6.4 arcmin at 6 arcsec cells, many
        beams yet small against the primary-beam variation).
    clip : float
        Clipping threshold, in rms.
    iterations : int
        Clipping passes.

    Returns
    -------
    background, rms : numpy.ndarray
        Shape (ny, nx), the units of ``data``; NaN only if no box is usable.
    """
    ny, nx = data.shape
    nby, nbx = -(-ny // box), -(-nx // box)
    padded = np.full((nby * box, nbx * box), np.nan)
    padded[:ny, :nx] = data
    blocks = padded.reshape(nby, box, nbx, box).transpose(0, 2, 1, 3).reshape(nby * nbx, -1)
    good = (np.isfinite(blocks).sum(-1) >= 0.5 * box * box).reshape(nby, nbx)
    with np.errstate(all="ignore"):
        median, rms = (a.reshape(nby, nbx) for a in _box_stats(blocks, clip, iterations))
    good &= np.isfinite(rms) & (rms > 0)
    if not good.any():
        nan = np.full(data.shape, np.nan)
        return nan, nan.copy()
    # fill unusable boxes from the nearest usable one
    _, (iy, ix) = ndimage.distance_transform_edt(~good, return_indices=True)
    median, rms = median[iy, ix], rms[iy, ix]
    # block centres sit at (k + 0.5) * box - 0.5 in pixel coordinates
    yy = (np.arange(ny) + 0.5) / box - 0.5
    xx = (np.arange(nx) + 0.5) / box - 0.5
    grid = np.meshgrid(yy, xx, indexing="ij")
    background = ndimage.map_coordinates(median, grid, order=1, mode="nearest")
    rms_map = ndimage.map_coordinates(rms, grid, order=1, mode="nearest")
    return background, rms_map
