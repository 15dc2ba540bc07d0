"""Measurement Set access with python-casacore: metadata and row chunks.

Only the standard MS layout is assumed: one spectral window of ascending
channels (DATA_DESC_ID 0), polarisations XX, YY, main-table columns DATA,
MODEL_DATA, CORRECTED_DATA, FLAG, WEIGHT, ANTENNA1/2, TIME, UVW. Columns
are read in row chunks with ``getcol(startrow, nrow)`` so memory stays
bounded on a full 111744-row, 768-channel group.
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
        Shape (Npol,): CASA correlation codes (9 = XX, 12 = YY).
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
        If the MS is missing or has more than one spectral window.
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
) -> Iterator[VisChunk]:
    """Yield the main table in row chunks, reading the next one in a thread.

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
    """
    chunks = _read_chunks(ms, columns, chunk_rows)
    yield from prefetched(chunks, depth=1, name="ms-prefetch") if prefetch else chunks


def _read_chunks(ms, columns, chunk_rows) -> Iterator[VisChunk]:
    with _table(ms) as tb:
        nrows = tb.nrows()
        for start in range(0, nrows, chunk_rows):
            n = min(chunk_rows, nrows - start)
            flag = tb.getcol("FLAG", start, n)
            flag |= tb.getcol("FLAG_ROW", start, n)[:, None, None]
            vis = [tb.getcol(c, start, n) for c in columns]
            yield VisChunk(
                start=start,
                ant1=tb.getcol("ANTENNA1", start, n),
                ant2=tb.getcol("ANTENNA2", start, n),
                time_s=tb.getcol("TIME", start, n),
                uvw_m=tb.getcol("UVW", start, n),
                data=vis[0] if vis else None,
                model=vis[1] if len(vis) > 1 else None,
                flag=flag,
                weight=tb.getcol("WEIGHT", start, n),
                field_id=tb.getcol("FIELD_ID", start, n),
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
