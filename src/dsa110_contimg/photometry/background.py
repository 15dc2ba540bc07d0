"""Background and rms maps: sigma-clipped box statistics, interpolated.

The image is cut into square boxes; in each, the median and the MAD-based
rms (1.4826 x median absolute deviation) are re-estimated after clipping
pixels beyond ``clip`` rms, ``iterations`` times (vectorised over all boxes at
once). Boxes with less than half their pixels finite borrow the nearest good
box's values. The coarse grids are interpolated bilinearly to every pixel.
Sources bias the rms little as long as they cover a small part of each box
(the clipping removes their bright cores).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAD_TO_SIGMA = 1.482602218505602
"""Gaussian sigma per median absolute deviation."""


def _box_stats(blocks: np.ndarray, clip: float, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    values = blocks.copy()
    for _ in range(iterations + 1):
        median = np.nanmedian(values, axis=-1)
        rms = MAD_TO_SIGMA * np.nanmedian(np.abs(values - median[..., None]), axis=-1)
        values = np.where(
            np.abs(blocks - median[..., None]) <= clip * rms[..., None], blocks, np.nan
        )
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
    blocks = padded.reshape(nby, box, nbx, box).transpose(0, 2, 1, 3).reshape(nby, nbx, -1)
    good = np.isfinite(blocks).sum(-1) >= 0.5 * box * box
    with np.errstate(all="ignore"), _quiet_nan_warnings():
        median, rms = _box_stats(blocks, clip, iterations)
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


class _quiet_nan_warnings:
    """Silence numpy's all-NaN-slice warnings inside the block statistics."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)
