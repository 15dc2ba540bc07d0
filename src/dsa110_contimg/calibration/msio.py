"""Measurement Set access with python-casacore: metadata and row chunks.

Only the standard MS layout is assumed: one spectral window of ascending
channels (DATA_DESC_ID 0), correlations XX, YY (optionally XX, XY, YX, YY;
anything else is refused by :func:`read_info`), main-table columns DATA,
MODEL_DATA, CORRECTED_DATA, FLAG, WEIGHT, ANTENNA1/2, TIME, UVW. Columns
are read in row chunks with ``getcol(startrow, nrow)`` so memory stays
bounded on a full 111744-row, 768-channel group.

The solvers see every cross-correlation as ANTENNA1 < ANTENNA2: a row
stored the other way round is the conjugate baseline, so the chunk reader
swaps its antennas, conjugates its visibilities and negates its UVW
(:func:`iter_chunks`) instead of leaving it out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.tools.prefetch import prefetched

DEFAULT_CHUNK_ROWS = 16384
"""Rows read per chunk (about 200 MB of DATA at 768 channels x 2 pols)."""

CORR_XX, CORR_XY, CORR_YX, CORR_YY = 9, 10, 11, 12
"""casacore (``Stokes::StokesTypes``) codes of the linear correlations."""

ACCEPTED_CORR_TYPES: tuple[tuple[int, ...], ...] = (
    (CORR_XX, CORR_YY),
    (CORR_XX, CORR_XY, CORR_YX, CORR_YY),
)
"""POLARIZATION ``CORR_TYPE`` rows the calibration accepts; it solves XX and YY."""

_CORR_NAMES = {1: "I", 2: "Q", 3: "U", 4: "V", 5: "RR", 6: "RL", 7: "LR", 8: "LL"} | {
    CORR_XX: "XX",
    CORR_XY: "XY",
    CORR_YX: "YX",
    CORR_YY: "YY",
}


@dataclass(frozen=True)
class MSInfo:
    """What the calibration code needs to know about an MS.

    Attributes
    ----------
    path : Path
        The MS.
    n_rows : int
        Main-table rows.
    freqs_hz : numpy.ndarray
        Shape (Nchan,): channel centres of SPW 0, Hz (ascending).
    chan_width_hz : numpy.ndarray
        Shape (Nchan,): channel widths, Hz.
    corr_types : numpy.ndarray
        Shape (Npol,): CASA correlation codes, one of
        :data:`ACCEPTED_CORR_TYPES` (9 = XX, 10 = XY, 11 = YX, 12 = YY).
    antenna_names : numpy.ndarray
        Shape (Nant_table,), str: ANTENNA NAME (DSA pad numbers as text).
    phase_dir_rad : numpy.ndarray
        Shape (2,): FIELD 0 PHASE_DIR (RA, Dec), radians.
    time_range_s : tuple of float
        First and last TIME, MJD seconds.
    """

    path: Path
    n_rows: int
    freqs_hz: np.ndarray
    chan_width_hz: np.ndarray
    corr_types: np.ndarray
    antenna_names: np.ndarray
    phase_dir_rad: np.ndarray
    time_range_s: tuple[float, float]

    @property
    def mid_mjd(self) -> float:
        """Middle of the time range, MJD (days)."""
        return 0.5 * (self.time_range_s[0] + self.time_range_s[1]) / 86400.0

    @property
    def dec_deg(self) -> float:
        """Declination of the phase centre, degrees."""
        return float(np.degrees(self.phase_dir_rad[1]))

    @property
    def solve_pols(self) -> np.ndarray:
        """Indices of XX and YY on the correlation axis (what the solvers read)."""
        return parallel_hand_indices(self.corr_types)


def check_corr_types(ms: str | Path, corr_types: np.ndarray) -> None:
    """Refuse an MS whose correlations are not XX, YY (optionally with XY, YX).

    Raises
    ------
    InputDataError
        Naming the MS and the correlations found: circular feeds, Stokes
        parameters or a reordered axis would be solved as if they were XX and
        YY, giving wrong gains without any other sign.
    """
    found = tuple(int(c) for c in np.ravel(corr_types))
    if found in ACCEPTED_CORR_TYPES:
        return
    names = ", ".join(f"{_CORR_NAMES.get(c, '?')} ({c})" for c in found) or "none"
    raise InputDataError(
        f"{ms}: POLARIZATION CORR_TYPE is [{names}]; calibration expects XX, YY "
        "(casacore codes 9, 12), optionally XX, XY, YX, YY (9, 10, 11, 12)",
        hint="convert the data with linear feeds in XX, YY order",
    )


def feed_pairs(corr_types: np.ndarray) -> np.ndarray:
    """Feeds (0 = X, 1 = Y) of ANTENNA1 and ANTENNA2 in each correlation, shape (Npol, 2).

    A two-polarisation solution (XX, YY) corrects correlation ``p`` with
    ``J_1[feeds[p, 0]] conj(J_2[feeds[p, 1]])``.
    """
    pairs = {CORR_XX: (0, 0), CORR_XY: (0, 1), CORR_YX: (1, 0), CORR_YY: (1, 1)}
    return np.array([pairs[int(c)] for c in np.ravel(corr_types)])


def parallel_hand_indices(corr_types: np.ndarray) -> np.ndarray:
    """Positions of XX and YY in a correlation axis accepted by :func:`check_corr_types`."""
    corr = list(np.ravel(corr_types))
    return np.array([corr.index(CORR_XX), corr.index(CORR_YY)])


def _table(path: str | Path, readonly: bool = True):
    from casacore.tables import table

    if not Path(path).is_dir():
        raise InputDataError(f"no Measurement Set at {path}", hint="check the path")
    return table(str(path), readonly=readonly, ack=False)


def read_info(ms: str | Path) -> MSInfo:
    """Read the metadata of an MS.

    Raises
    ------
    InputDataError
        If the MS is missing, has more than one spectral window or
        correlations other than XX, YY (and XY, YX).
    """
    ms = Path(ms)
    with _table(ms / "SPECTRAL_WINDOW") as spw:
        if spw.nrows() != 1:
            raise InputDataError(
                f"{ms} has {spw.nrows()} spectral windows; calibration expects one",
                hint="convert the group into a single-SPW MS",
            )
        freqs = spw.getcol("CHAN_FREQ")[0]
        widths = spw.getcol("CHAN_WIDTH")[0]
    with _table(ms / "POLARIZATION") as pol:
        corr = pol.getcol("CORR_TYPE")[0]
    check_corr_types(ms, corr)
    with _table(ms / "ANTENNA") as ant:
        names = np.asarray(ant.getcol("NAME"))
    with _table(ms / "FIELD") as fld:
        phase_dir = fld.getcol("PHASE_DIR")[0, 0]
    with _table(ms) as tb:
        times = tb.getcol("TIME")
        nrows = tb.nrows()
    return MSInfo(
        ms, nrows, freqs, widths, corr, names, phase_dir, (float(times.min()), float(times.max()))
    )


@dataclass
class VisChunk:
    """One chunk of main-table rows.

    Attributes
    ----------
    start : int
        First row.
    ant1, ant2 : numpy.ndarray
        Shape (rows,), int: ANTENNA1, ANTENNA2.
    time_s : numpy.ndarray
        Shape (rows,): TIME, MJD seconds.
    uvw_m : numpy.ndarray
        Shape (rows, 3): UVW, metres.
    data, model : numpy.ndarray or None
        Shape (rows, Nchan, Npol) complex64.
    flag : numpy.ndarray
        Shape (rows, Nchan, Npol) bool (FLAG or FLAG_ROW).
    weight : numpy.ndarray
        Shape (rows, Npol) float32: WEIGHT (WEIGHT_SPECTRUM is not read;
        it is assumed flat across channels).
    field_id : numpy.ndarray
        Shape (rows,): FIELD_ID.
    """

    start: int
    ant1: np.ndarray
    ant2: np.ndarray
    time_s: np.ndarray
    uvw_m: np.ndarray
    data: np.ndarray | None
    model: np.ndarray | None
    flag: np.ndarray
    weight: np.ndarray
    field_id: np.ndarray | None = None


def iter_chunks(
    ms: str | Path,
    columns: Sequence[str] = ("DATA", "MODEL_DATA"),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    prefetch: bool = True,
    pols: np.ndarray | None = None,
) -> Iterator[VisChunk]:
    """Yield the main table in row chunks, reading the next one in a thread.

    Every row comes out with ANTENNA1 <= ANTENNA2: a row stored as
    ``(j, i)`` with ``j > i`` holds ``V_ji = conj(V_ij)`` at ``uvw_ji =
    -uvw_ij``, so its antennas are swapped, its visibility columns
    conjugated and its UVW negated (see :func:`canonical_baselines`).

    Reading is the slowest part of a solve; with ``prefetch`` the next
    chunk is read while the caller works on the current one (the
    accumulation kernel releases the GIL). At most three chunks are in memory
    (the caller's, the one queued, the one being read).

    Parameters
    ----------
    ms : str or Path
        The MS.
    columns : sequence of str
        Visibility columns to read: ``data`` gets the first, ``model`` the
        second (if given).
    chunk_rows : int
        Rows per chunk.
    prefetch : bool
        Read ahead in a background thread.
    pols : numpy.ndarray, optional
        Keep only these positions of the correlation axis (e.g.
        :attr:`MSInfo.solve_pols`: XX and YY of a four-correlation MS).
    """
    chunks = _read_chunks(ms, columns, chunk_rows, pols)
    yield from prefetched(chunks, depth=1, name="ms-prefetch") if prefetch else chunks


def canonical_baselines(chunk: VisChunk) -> VisChunk:
    """Turn rows stored with ANTENNA1 > ANTENNA2 into their ANTENNA1 < ANTENNA2 twin, in place.

    Solvers index baselines by the ordered pair; without this such rows
    were silently left out (a quarter of a correlator's rows in some orders).
    """
    swap = chunk.ant1 > chunk.ant2
    if not swap.any():
        return chunk
    chunk.ant1, chunk.ant2 = (
        np.where(swap, chunk.ant2, chunk.ant1),
        np.where(swap, chunk.ant1, chunk.ant2),
    )
    chunk.uvw_m[swap] *= -1
    for name in ("data", "model"):
        vis = getattr(chunk, name)
        if vis is not None:
            vis[swap] = np.conj(vis[swap])
    return chunk


def _read_chunks(ms, columns, chunk_rows, pols=None) -> Iterator[VisChunk]:
    with _table(ms) as tb:
        nrows = tb.nrows()
        for start in range(0, nrows, chunk_rows):
            n = min(chunk_rows, nrows - start)
            flag = tb.getcol("FLAG", start, n)
            flag |= tb.getcol("FLAG_ROW", start, n)[:, None, None]
            vis = [tb.getcol(c, start, n) for c in columns]
            weight = tb.getcol("WEIGHT", start, n)
            if pols is not None and not np.array_equal(pols, np.arange(flag.shape[2])):
                flag, weight = flag[:, :, pols], weight[:, pols]
                vis = [v[:, :, pols] for v in vis]
            yield canonical_baselines(
                VisChunk(
                    start=start,
                    ant1=tb.getcol("ANTENNA1", start, n),
                    ant2=tb.getcol("ANTENNA2", start, n),
                    time_s=tb.getcol("TIME", start, n),
                    uvw_m=tb.getcol("UVW", start, n),
                    data=vis[0] if vis else None,
                    model=vis[1] if len(vis) > 1 else None,
                    flag=flag,
                    weight=weight,
                    field_id=tb.getcol("FIELD_ID", start, n),
                )
            )


def read_columns(ms: str | Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read whole scalar columns (ANTENNA1, TIME, ...) at once."""
    with _table(ms) as tb:
        return {n: tb.getcol(n) for n in names}


def ensure_column(ms: str | Path, name: str, like: str = "DATA") -> None:
    """Add a visibility column shaped like ``like`` if the MS lacks it."""
    from casacore.tables import makearrcoldesc, maketabdesc

    with _table(ms, readonly=False) as tb:
        if name in tb.colnames():
            return
        desc = tb.getcoldesc(like)
        coldesc = makearrcoldesc(
            name, 0j, valuetype="complex", ndim=desc.get("ndim", 2), comment=name
        )
        shape = tb.getcell(like, 0).shape  # (nchan, npol)
        dminfo = {
            "TYPE": "TiledShapeStMan",
            "NAME": f"{name}_tsm",
            "SPEC": {"DEFAULTTILESHAPE": [int(shape[1]), int(shape[0]), 64]},
        }
        tb.addcols(maketabdesc(coldesc), dminfo)
        tb.flush()
