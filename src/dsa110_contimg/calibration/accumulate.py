"""Per-baseline sums of visibilities against a model: the solvers' input.

For each solution cell (a time bin), baseline, channel and polarisation::

    X = sum w V conj(M)    Y = sum w |M|^2    Z = sum w |V|^2    N = sum [w > 0]

over the rows of the cell. The gain solve needs nothing else (see
:mod:`.stefcal`), so the visibilities are read once, in row chunks, and
added into (cell, baseline) accumulators by one fused loop (numba; a
numpy path adds one integration at a time when numba is missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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

        Rows are expected with ANTENNA1 <= ANTENNA2 in compact order: the
        chunk reader (:func:`~.msio.canonical_baselines`) conjugates rows
        stored the other way round; any row with ant1 > ant2 left here gets
        -1 as well.
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


class CellSums:
    """Running sums X, Y, Z, N per (cell, baseline, channel, polarisation).

    Sums are kept in single precision (a cell holds a few integrations);
    the solver adds cells together in double precision.

    Parameters
    ----------
    n_cells : int
        Number of solution cells (time bins).
    n_baselines : int
        Number of cross baselines.
    n_chan, n_pol : int
        Channels and polarisations of the data.
    """

    def __init__(self, n_cells: int, n_baselines: int, n_chan: int, n_pol: int):
        shape = (n_cells * n_baselines, n_chan * n_pol)
        self.shape = (n_cells, n_baselines, n_chan, n_pol)
        self.x = np.zeros(shape, np.complex64)
        self.y = np.zeros(shape, np.float32)
        self.z = np.zeros(shape, np.float32)
        self.n = np.zeros(shape, np.float32)

    def add(
        self,
        key: np.ndarray,
        time_index: np.ndarray,
        data: np.ndarray,
        model: np.ndarray,
        flag: np.ndarray,
        weight: np.ndarray,
        uv_m: np.ndarray,
        freqs_hz: np.ndarray,
        uvmin_lambda: float,
    ) -> None:
        """Add one chunk of rows.

        Parameters
        ----------
        key : numpy.ndarray
            Shape (rows,), int: ``cell * n_baselines + baseline``, -1 to skip.
        time_index : numpy.ndarray
            Shape (rows,), int: integration of each row (the numpy path adds
            one integration at a time, within which baselines are unique).
        data, model : numpy.ndarray
            Shape (rows, Nchan, Npol) complex.
        flag : numpy.ndarray
            Shape (rows, Nchan, Npol) bool.
        weight : numpy.ndarray
            Shape (rows, Npol): WEIGHT column.
        uv_m : numpy.ndarray
            Shape (rows,): projected baseline length sqrt(u^2 + v^2), metres.
        freqs_hz : numpy.ndarray
            Shape (Nchan,): the frequency (Hz) converting each channel's cut.
        uvmin_lambda : float
            Samples on baselines shorter than this (wavelengths) are skipped.
        """
        if _accumulate_numba is not None:
            na = self.shape[2:]
            _accumulate_numba(
                key.astype(np.int64),
                data,
                model,
                flag,
                weight.astype(np.float32),
                uv_m.astype(np.float64),
                freqs_hz / SPEED_OF_LIGHT_M_S,
                float(uvmin_lambda),
                self.x.reshape(-1, *na),
                self.y.reshape(-1, *na),
                self.z.reshape(-1, *na),
                self.n.reshape(-1, *na),
            )
            return
        uv_ok = uv_m[:, None] * (freqs_hz[None, :] / SPEED_OF_LIGHT_M_S) > uvmin_lambda
        self._add_numpy(key, time_index, data, model, flag, weight, uv_ok)

    def _add_numpy(self, key, time_index, data, model, flag, weight, uv_ok) -> None:
        rows = np.flatnonzero(key >= 0)
        if rows.size == 0:
            return
        nrow = rows.size
        d, m = data[rows], model[rows]
        keep = ~flag[rows] & uv_ok[rows][:, :, None]
        w = np.where(keep, weight[rows][:, None, :], 0).astype(np.float32)
        wmc = w * np.conj(m)
        values = (
            (self.x, (d * wmc).reshape(nrow, -1)),
            (self.y, (w * (m.real**2 + m.imag**2)).reshape(nrow, -1)),
            (self.z, (w * (d.real**2 + d.imag**2)).reshape(nrow, -1)),
            (self.n, (w > 0).reshape(nrow, -1)),
        )
        key, tidx = key[rows], time_index[rows]
        for t in np.unique(tidx):
            sel = np.flatnonzero(tidx == t)
            k = key[sel]
            if np.unique(k).size != k.size:  # duplicate rows: slow but correct
                for acc, v in values:
                    np.add.at(acc, k, v[sel])
                continue
            for acc, v in values:
                acc[k] += v[sel]

    def arrays(self) -> dict[str, np.ndarray]:
        """The sums, each shaped (n_cells, n_baselines, n_chan, n_pol)."""
        out = {"x": self.x, "y": self.y, "z": self.z, "n": self.n}
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


def _make_numba_kernel():
    """The fused accumulation loop, compiled with numba when it is installed.

    One pass over the samples computes the weight (WEIGHT x unflagged x uv
    cut) and adds to the four sums; it is ~10x faster than the numpy path,
    which makes several temporary arrays the size of the chunk.
    """
    try:
        import numba
    except ImportError:  # pragma: no cover - numba ships with the environment
        return None

    @numba.njit(cache=True, nogil=True)
    def kernel(
        key, data, model, flag, weight, uv_m, inv_lambda, uvmin, x, y, z, n
    ):  # pragma: no cover
        nrow, nchan, npol = data.shape
        for r in range(nrow):
            k = key[r]
            if k < 0:
                continue
            for c in range(nchan):
                if uv_m[r] * inv_lambda[c] <= uvmin:
                    continue
                for p in range(npol):
                    w = weight[r, p]
                    if flag[r, c, p] or w <= 0:
                        continue
                    d = data[r, c, p]
                    m = model[r, c, p]
                    x[k, c, p] += w * d * m.conjugate()
                    y[k, c, p] += w * (m.real * m.real + m.imag * m.imag)
                    z[k, c, p] += w * (d.real * d.real + d.imag * d.imag)
                    n[k, c, p] += 1.0

    return kernel


_accumulate_numba = _make_numba_kernel()
