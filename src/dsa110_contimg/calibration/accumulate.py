"""Per-baseline sums of visibilities against a model: the solvers' input.

For each solution cell (a time bin), baseline, channel and polarisation::

    X = sum w V conj(M)    Y = sum w |M|^2    Z = sum w |V|^2    N = sum [w > 0]

over the rows of the cell. The gain solve needs nothing else (see
:mod:`.stefcal`), so the visibilities are read once, in row chunks, and
reduced with a sparse (cell, baseline) x row matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S


@dataclass(frozen=True)
class BaselineIndex:
    """Compact antenna and cross-baseline numbering of a data set.

    Attributes
    ----------
    antennas : numpy.ndarray
        Shape (Na,), int: MS antenna ids (ANTENNA table rows) present in
        the data, ascending; index ``k`` is compact antenna ``k``.
    ant1, ant2 : numpy.ndarray
        Shape (Nbl,), int: compact antennas of each cross baseline.
    """

    antennas: np.ndarray
    ant1: np.ndarray
    ant2: np.ndarray
    _lookup: np.ndarray = field(repr=False)
    _compact: np.ndarray = field(repr=False)

    @classmethod
    def from_rows(cls, ant1: np.ndarray, ant2: np.ndarray) -> BaselineIndex:
        """Build the index from the ANTENNA1/ANTENNA2 columns of all rows."""
        antennas = np.unique(np.concatenate([ant1, ant2]))
        compact = np.full(antennas.max() + 1, -1)
        compact[antennas] = np.arange(antennas.size)
        c1, c2 = compact[ant1], compact[ant2]
        cross = c1 != c2
        lo, hi = np.minimum(c1, c2)[cross], np.maximum(c1, c2)[cross]
        na = antennas.size
        keys = np.unique(lo * na + hi)
        lookup = np.full(na * na, -1)
        lookup[keys] = np.arange(keys.size)
        return cls(antennas, keys // na, keys % na, lookup, compact)

    @property
    def n_antennas(self) -> int:
        """Number of antennas present (Na)."""
        return int(self.antennas.size)

    @property
    def n_baselines(self) -> int:
        """Number of cross baselines (Nbl)."""
        return int(self.ant1.size)

    def compact(self, ant: np.ndarray) -> np.ndarray:
        """Map MS antenna ids to compact ones."""
        return self._compact[ant]

    def baseline_of_rows(self, ant1: np.ndarray, ant2: np.ndarray) -> np.ndarray:
        """Baseline index of each row, -1 for autocorrelations.

        Rows are expected with ANTENNA1 <= ANTENNA2 in compact order
        (as in any MS written by CASA conventions); rows with ant1 > ant2
        get -1 as well, and are ignored by the solver.
        """
        c1, c2 = self._compact[ant1], self._compact[ant2]
        bl = self._lookup[c1 * self.n_antennas + c2]
        return np.where(c1 < c2, bl, -1)

    def to_matrices(self, values: np.ndarray, hermitian: bool) -> np.ndarray:
        """Scatter per-baseline values into Na x Na matrices.

        Parameters
        ----------
        values : numpy.ndarray
            Shape (Nbl, ...): one value per baseline and batch element.
        hermitian : bool
            Fill ``[j, i]`` with the conjugate (True) or the same value.

        Returns
        -------
        numpy.ndarray
            Shape (B, Na, Na) with B the product of the trailing dimensions;
            diagonal zero.
        """
        flat = values.reshape(values.shape[0], -1).T
        na = self.n_antennas
        out = np.zeros((flat.shape[0], na, na), dtype=flat.dtype)
        out[:, self.ant1, self.ant2] = flat
        out[:, self.ant2, self.ant1] = np.conj(flat) if hermitian else flat
        return out


def uv_weight_mask(uvw_m: np.ndarray, freqs_hz: np.ndarray, uvmin_lambda: float) -> np.ndarray:
    """True where the projected baseline is longer than ``uvmin_lambda``.

    Parameters
    ----------
    uvw_m : numpy.ndarray
        Shape (rows, 3), metres.
    freqs_hz : numpy.ndarray
        Shape (Nchan,), Hz.
    uvmin_lambda : float
        Minimum ``sqrt(u^2 + v^2)``, wavelengths; 0 keeps everything.

    Returns
    -------
    numpy.ndarray
        Shape (rows, Nchan) bool.
    """
    uv_m = np.hypot(uvw_m[:, 0], uvw_m[:, 1])
    return uv_m[:, None] * (freqs_hz[None, :] / SPEED_OF_LIGHT_M_S) > uvmin_lambda


class CellSums:
    """Running sums X, Y, Z, N per (cell, baseline, channel, polarisation).

    Parameters
    ----------
    n_cells : int
        Number of solution cells (time bins).
    n_baselines : int
        Number of cross baselines.
    n_chan, n_pol : int
        Channels and polarisations of the data.
    extra_x : bool
        Keep a second X (``x2``) summed against a different model, e.g.
        with earlier solutions folded in, sharing Y, Z and N.
    """

    def __init__(
        self, n_cells: int, n_baselines: int, n_chan: int, n_pol: int, extra_x: bool = False
    ):
        shape = (n_cells * n_baselines, n_chan * n_pol)
        self.shape = (n_cells, n_baselines, n_chan, n_pol)
        self.x = np.zeros(shape, np.complex128)
        self.x2 = np.zeros(shape, np.complex128) if extra_x else None
        self.y = np.zeros(shape)
        self.z = np.zeros(shape)
        self.n = np.zeros(shape)

    def add(
        self,
        key: np.ndarray,
        data: np.ndarray,
        model: np.ndarray,
        weight: np.ndarray,
        fold: np.ndarray | None = None,
    ) -> None:
        """Add one chunk of rows.

        Parameters
        ----------
        key : numpy.ndarray
            Shape (rows,), int: ``cell * n_baselines + baseline``, -1 to skip.
        data, model : numpy.ndarray
            Shape (rows, Nchan, Npol) complex.
        weight : numpy.ndarray
            Shape (rows, Nchan, Npol) float, 0 for flagged samples.
        fold : numpy.ndarray, optional
            Shape (rows, Nchan, Npol) complex: factor ``J_1 conj(J_2)``
            multiplying the model for the second sum ``x2``.
        """
        use = key >= 0
        rows = np.flatnonzero(use)
        if rows.size == 0:
            return
        reduce = sparse.csr_matrix(
            (np.ones(rows.size), (key[rows], np.arange(rows.size))),
            shape=(self.x.shape[0], rows.size),
        )
        nrow = rows.size
        d, m, w = data[rows], model[rows], weight[rows]
        wmc = w * np.conj(m)
        xv = d * wmc
        self.x += reduce @ xv.reshape(nrow, -1)
        if self.x2 is not None:
            self.x2 += reduce @ (xv * np.conj(fold[rows])).reshape(nrow, -1)
        self.y += reduce @ (np.real(wmc * m)).reshape(nrow, -1)
        self.z += reduce @ (w * (d.real**2 + d.imag**2)).reshape(nrow, -1)
        self.n += reduce @ (w > 0).reshape(nrow, -1).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sums, each shaped (n_cells, n_baselines, n_chan, n_pol)."""
        out = {"x": self.x, "y": self.y, "z": self.z, "n": self.n}
        if self.x2 is not None:
            out["x2"] = self.x2
        return {k: v.reshape(self.shape) for k, v in out.items()}


def time_bins(times_s: np.ndarray, solint_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Assign integrations to solution intervals.

    Parameters
    ----------
    times_s : numpy.ndarray
        Shape (rows,): TIME column, seconds.
    solint_s : float or None
        Interval length, seconds; None (or inf) for one interval.

    Returns
    -------
    bin_of_row : numpy.ndarray
        Shape (rows,), int.
    bin_times : numpy.ndarray
        Shape (Nbins,): mean of the unique integration times in each bin, s.
    """
    unique, inverse = np.unique(times_s, return_inverse=True)
    if solint_s is None or not np.isfinite(solint_s):
        ubin = np.zeros(unique.size, int)
    else:
        # a small tolerance so integrations on a bin edge fall in the earlier bin
        ubin = np.floor((unique - unique[0]) / solint_s + 1e-6).astype(int)
    _, ubin = np.unique(ubin, return_inverse=True)
    centres = np.bincount(ubin, weights=unique) / np.bincount(ubin)
    return ubin[inverse], centres
