"""Apply bandpass and gain tables: CORRECTED_DATA = DATA / (J_1 conj(J_2)).

``J`` is the product of the tables' gains for an antenna (bandpass per
channel times gain per time); with the MS convention ``DATA_ij =
g_i conj(g_j) MODEL_ij`` this is what CASA's applycal does. Gains with
several solution times are interpolated linearly in amplitude and phase
(shorter arc) between the neighbouring solutions and held constant beyond
the first and last; a sample whose solution (either antenna, either
neighbour) is flagged is flagged, and its CORRECTED_DATA set to 0.
Flagged bandpass channels are not interpolated over (gap filling happened
at solve time): this equals CASA ``applycal(interp=["nearest,linearflag",
"linear"])``, which the ``casa`` tests check to 1e-4.

The tables hold XX and YY (feeds X, Y); an MS with four correlations has
XY corrected by ``J_1x conj(J_2y)`` and YX by ``J_1y conj(J_2x)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dsa110_contimg.calibration.caltable import read_caltable
from dsa110_contimg.calibration.errors import CalibrationError
from dsa110_contimg.calibration.msio import (
    DEFAULT_CHUNK_ROWS,
    _table,
    ensure_column,
    feed_pairs,
    read_info,
)
from dsa110_contimg.calibration.solutions import JonesSolutions


def gains_at(sol: JonesSolutions, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solutions interpolated to times.

    Parameters
    ----------
    sol : JonesSolutions
        Shape (Nt, Na, Nchan, Npol).
    times_s : numpy.ndarray
        Shape (T,): times, MJD seconds.

    Returns
    -------
    gains, flags : numpy.ndarray
        Shape (T, Na, Nchan, Npol).
    """
    nt = sol.times_s.size
    if nt == 1:
        reps = (times_s.size, 1, 1, 1)
        return np.tile(sol.gains, reps), np.tile(sol.flags, reps)
    hi = np.clip(np.searchsorted(sol.times_s, times_s), 1, nt - 1)
    lo = hi - 1
    frac = (times_s - sol.times_s[lo]) / (sol.times_s[hi] - sol.times_s[lo])
    frac = np.clip(frac, 0.0, 1.0)[:, None, None, None]
    g0, g1 = sol.gains[lo], sol.gains[hi]
    amp = (1 - frac) * np.abs(g0) + frac * np.abs(g1)
    phase = np.angle(g0) + frac * np.angle(g1 * np.conj(g0))
    flags = (sol.flags[lo] & (frac < 1)) | (sol.flags[hi] & (frac > 0))
    return amp * np.exp(1j * phase), flags


def _check_frequencies(sol: JonesSolutions, freqs_hz: np.ndarray, path: str) -> None:
    if sol.gains.shape[2] not in (1, freqs_hz.size):
        raise CalibrationError(
            f"{path} has {sol.gains.shape[2]} channels, the MS {freqs_hz.size}",
            hint="solve the bandpass on an MS with the same channels",
        )
    if sol.gains.shape[2] == freqs_hz.size:
        step = np.abs(np.diff(freqs_hz)).min() if freqs_hz.size > 1 else 1.0
        if np.abs(sol.freqs_hz - freqs_hz).max() > 0.5 * step:
            raise CalibrationError(f"{path}: channel frequencies differ from the MS's")


def apply_solutions(
    data: np.ndarray,
    flag: np.ndarray,
    ant1: np.ndarray,
    ant2: np.ndarray,
    time_s: np.ndarray,
    solutions: Sequence[JonesSolutions],
    feeds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Correct visibilities with a product of Jones solutions (arrays in, arrays out).

    Parameters
    ----------
    data : numpy.ndarray
        Shape (rows, Nchan, Npol) complex.
    flag : numpy.ndarray
        Shape (rows, Nchan, Npol) bool.
    ant1, ant2 : numpy.ndarray
        Shape (rows,): MS antenna ids (rows of the tables' antenna axis).
    time_s : numpy.ndarray
        Shape (rows,): TIME, s.
    solutions : sequence of JonesSolutions
        Tables read with :func:`~.caltable.read_caltable`, antennas 0..Na-1.
    feeds : numpy.ndarray, optional
        Shape (Npol, 2): the tables' polarisation used for ANTENNA1 and
        ANTENNA2 in each correlation (:func:`~.msio.feed_pairs`); default
        the same index as the data's (tables with Npol polarisations).

    Returns
    -------
    corrected, flags : numpy.ndarray
        Shape of ``data``.
    """
    utimes, tidx = np.unique(time_s, return_inverse=True)
    nchan = data.shape[1]
    npol = data.shape[2] if feeds is None else max(s.gains.shape[3] for s in solutions)
    na = max(s.gains.shape[1] for s in solutions)
    jones = np.ones((utimes.size, na, nchan, npol), np.complex64)
    jflag = np.zeros(jones.shape, bool)
    for sol in solutions:
        g, f = gains_at(sol, utimes)
        jones[:, : g.shape[1]] *= g.astype(np.complex64)
        jflag[:, : g.shape[1]] |= f
        jflag[:, g.shape[1] :] = True
    # invert once per antenna and time, then multiply per row: 1 / (J_1 conj(J_2))
    ok_j = ~jflag & (jones != 0)
    inverse = np.where(ok_j, 1 / np.where(ok_j, jones, 1), 0).astype(np.complex64)
    f1, f2 = (slice(None), slice(None)) if feeds is None else (feeds[:, 0], feeds[:, 1])
    corrected = data * inverse[tidx, ant1][..., f1]
    corrected *= np.conj(inverse[tidx, ant2][..., f2])
    bad = ~(ok_j[tidx, ant1][..., f1] & ok_j[tidx, ant2][..., f2])
    return corrected.astype(data.dtype, copy=False), flag | bad


def apply_ms(
    ms: str | Path,
    tables: Sequence[str | Path],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    update_flags: bool = True,
) -> dict:
    """Write CORRECTED_DATA (and FLAG) of an MS from calibration tables.

    Parameters
    ----------
    ms : str or Path
        The MS; CORRECTED_DATA is created if missing.
    tables : sequence of path
        ``B Jones`` / ``G Jones`` tables, e.g. ``select_tables(...).paths``.
    chunk_rows : int
        Rows per read/write.
    update_flags : bool
        Also write FLAG where solutions were flagged.

    Returns
    -------
    dict
        ``{"rows": n, "flagged_fraction_added": f, "tables": [...]}``.
    """
    if not tables:
        raise CalibrationError(f"no calibration tables given for {ms}")
    info = read_info(ms)
    sols = [read_caltable(t) for t in tables]
    for sol, path in zip(sols, tables, strict=True):
        _check_frequencies(sol, info.freqs_hz, str(path))
    ensure_column(ms, "CORRECTED_DATA")
    feeds = feed_pairs(info.corr_types)
    if all(s.gains.shape[3] == feeds.shape[0] for s in sols):
        feeds = None  # one solution per correlation (XX, YY tables on an XX, YY MS)
    added = 0
    total = 0
    with _table(ms, readonly=False) as tb:
        for start in range(0, tb.nrows(), chunk_rows):
            n = min(chunk_rows, tb.nrows() - start)
            flag = tb.getcol("FLAG", start, n)
            corrected, new_flag = apply_solutions(
                tb.getcol("DATA", start, n),
                flag,
                tb.getcol("ANTENNA1", start, n),
                tb.getcol("ANTENNA2", start, n),
                tb.getcol("TIME", start, n),
                sols,
                feeds,
            )
            tb.putcol("CORRECTED_DATA", corrected, start, n)
            if update_flags:
                tb.putcol("FLAG", new_flag, start, n)
            added += int(np.count_nonzero(new_flag & ~flag))
            total += flag.size
    return {
        "rows": info.n_rows,
        "flagged_fraction_added": added / max(total, 1),
        "tables": [str(t) for t in tables],
    }
