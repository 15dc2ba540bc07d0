"""Square cutouts around many positions, gathered at once, and beam kernels on them.

Cutouts are centred on the nearest pixel; their pixels' indices are clipped
to the image (``inside`` tells which are real) and gathered with one
``np.take`` on the flattened image. Kernels are Gaussians of peak 1 at the
exact sub-pixel position, with a per-position inverse covariance (pixels).
"""

from __future__ import annotations

import numpy as np

CHUNK_PIXELS = 1 << 18
"""Pixels handled per chunk: 2 MB float64 arrays stay in cache."""


class Cutouts:
    """Cutout pixel indices and offsets for a set of centres (vectorised)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, half: int, shape: tuple[int, int]) -> None:
        offsets = np.arange(-half, half + 1)
        xc = np.rint(x).astype(np.int64)
        yc = np.rint(y).astype(np.int64)
        ix, iy = xc[:, None] + offsets, yc[:, None] + offsets
        inside_x = (ix >= 0) & (ix < shape[1])
        inside_y = (iy >= 0) & (iy < shape[0])
        self._inside_x, self._inside_y = inside_x, inside_y
        self.ix = np.clip(ix, 0, shape[1] - 1)
        self.iy = np.clip(iy, 0, shape[0] - 1)
        self._width = shape[1]

    def subset(self, rows: np.ndarray) -> Cutouts:
        """The same cutouts for the given rows (repeats allowed), without recomputing."""
        out = object.__new__(Cutouts)
        out._inside_x, out._inside_y = self._inside_x[rows], self._inside_y[rows]
        out.ix, out.iy, out._width = self.ix[rows], self.iy[rows], self._width
        return out

    @property
    def inside(self) -> np.ndarray:
        """Pixels of each cutout that lie on the image, (N, B, B) bool."""
        return self._inside_y[:, :, None] & self._inside_x[:, None, :]

    def gather(self, image: np.ndarray) -> np.ndarray:
        """Cutouts of ``image``, shape (N, B, B) (out-of-image pixels repeat the edge)."""
        flat = (self.iy * self._width)[:, :, None] + self.ix[:, None, :]
        return np.take(image.reshape(-1), flat)  # faster than 2-D fancy indexing

    def kernel(self, x: np.ndarray, y: np.ndarray, inv_cov: np.ndarray) -> np.ndarray:
        """Gaussian of peak 1 centred at (x, y), sampled on these cutouts.

        Written as ``exp(-a dx^2 / 2) exp(-c dy^2 / 2) exp(-b dx dy)`` so only
        the cross term needs a full (N, B, B) exponential.
        """
        dx = self.ix - x[:, None]
        dy = self.iy - y[:, None]
        ex = np.exp(-0.5 * inv_cov[:, 0, 0, None] * dx * dx)
        ey = np.exp(-0.5 * inv_cov[:, 1, 1, None] * dy * dy)
        out = (-inv_cov[:, 0, 1, None] * dy)[:, :, None] * dx[:, None, :]
        np.exp(out, out=out)
        out *= ey[:, :, None]
        out *= ex[:, None, :]
        return out
