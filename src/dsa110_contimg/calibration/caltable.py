"""CASA calibration tables (``B Jones``, ``G Jones``) written and read with python-casacore.

Layout (CASA's "new calibration table" format, as CASA 6 writes it):

* main table, one row per solution time and antenna of the MS ANTENNA
  table (antennas without data are written flagged, CPARAM 1): TIME (s,
  UTC epoch), FIELD_ID, SPECTRAL_WINDOW_ID, ANTENNA1, ANTENNA2 (the
  reference antenna), INTERVAL (s), SCAN_NUMBER, OBSERVATION_ID, CPARAM
  (complex, per row [Nchan, Npol]), PARAMERR, FLAG, SNR, WEIGHT (left
  undefined, as CASA does);
* keywords ParType "Complex", MSName, VisCal, PolBasis "unknown" and the
  subtables ANTENNA, FIELD, OBSERVATION, HISTORY (copied from the MS) and
  SPECTRAL_WINDOW (copied; for ``G Jones`` reduced to one channel spanning
  the band);
* table info type "Calibration", subType the VisCal.

CPARAM holds the gain ``g`` of the MS convention ``DATA_ij = g_i conj(g_j)
MODEL_ij``, which is what CASA's applycal divides out. Tables are named after
the MS (``<ms>.b``, ``<ms>.g``) and written under a temporary name, then
renamed into place (:func:`dsa110_contimg.atomic.atomic_output`), so a reader
never sees a half-written table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsa110_contimg.atomic import atomic_output
from dsa110_contimg.calibration.errors import CalibrationError
from dsa110_contimg.calibration.solutions import JonesSolutions

VISCAL = {"B": "B Jones", "G": "G Jones"}
SUFFIX = {"B": ".b", "G": ".g"}
_SUBTABLES = ("ANTENNA", "FIELD", "OBSERVATION", "HISTORY")


def table_path_for(ms: str | Path, kind: str) -> Path:
    """Default table path: ``<ms>.b`` for a bandpass, ``<ms>.g`` for gains."""
    return Path(str(Path(ms)).rstrip("/") + SUFFIX[kind])


def _main_desc():
    from casacore.tables import makearrcoldesc, makescacoldesc, maketabdesc

    time = makescacoldesc(
        "TIME", 0.0, keywords={"QuantumUnits": ["s"], "MEASINFO": {"type": "epoch", "Ref": "UTC"}}
    )
    interval = makescacoldesc("INTERVAL", 0.0, keywords={"QuantumUnits": ["s"]})
    ints = [
        makescacoldesc(n, 0)
        for n in (
            "FIELD_ID",
            "SPECTRAL_WINDOW_ID",
            "ANTENNA1",
            "ANTENNA2",
            "SCAN_NUMBER",
            "OBSERVATION_ID",
        )
    ]
    arrays = [
        makearrcoldesc("CPARAM", 0j, valuetype="complex"),
        makearrcoldesc("PARAMERR", 0.0, valuetype="float"),
        makearrcoldesc("FLAG", False, valuetype="boolean"),
        makearrcoldesc("SNR", 0.0, valuetype="float"),
        makearrcoldesc("WEIGHT", 0.0, valuetype="float"),
    ]
    return maketabdesc(
        [time, ints[0], ints[1], ints[2], ints[3], interval, ints[4], ints[5], *arrays]
    )


def _copy_subtables(ms: Path, out: Path, kind: str, freqs_hz: np.ndarray) -> None:
    from casacore.tables import table

    for name in _SUBTABLES:
        with table(str(ms / name), ack=False) as src:
            # the table's own history starts empty (CASA appends to it)
            norows = name == "HISTORY"
            src.copy(str(out / name), deep=True, valuecopy=True, copynorows=norows).close()
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as src:
        src.copy(str(out / "SPECTRAL_WINDOW"), deep=True, valuecopy=True).close()
    if kind == "G":
        with table(str(out / "SPECTRAL_WINDOW"), readonly=False, ack=False) as spw:
            widths = spw.getcell("CHAN_WIDTH", 0)
            total = float(np.sum(np.abs(widths)))
            for col, value in (
                ("CHAN_FREQ", freqs_hz[:1]),
                ("CHAN_WIDTH", [total]),
                ("EFFECTIVE_BW", [total]),
                ("RESOLUTION", [total]),
            ):
                spw.putcell(col, 0, np.asarray(value, float))
            spw.putcell("NUM_CHAN", 0, 1)
            spw.putcell("TOTAL_BANDWIDTH", 0, total)


def write_caltable(
    solutions: JonesSolutions,
    ms: str | Path,
    path: str | Path | None = None,
    *,
    overwrite: bool = True,
) -> Path:
    """Write solutions as a CASA calibration table, atomically.

    Parameters
    ----------
    solutions : JonesSolutions
        ``B`` or ``G`` solutions (shape (Nt, Na, Nchan, Npol)).
    ms : str or Path
        The MS the solutions were solved on (subtables are copied from it).
    path : str or Path, optional
        Output table; default ``<ms>.b`` / ``<ms>.g``.
    overwrite : bool
        Replace an existing table of that name.

    Returns
    -------
    Path
        The table written.

    Raises
    ------
    CalibrationError
        If the table exists and ``overwrite`` is False.
    """
    from casacore.tables import table

    ms = Path(ms)
    final = Path(path) if path is not None else table_path_for(ms, solutions.kind)
    if final.exists() and not overwrite:
        raise CalibrationError(f"calibration table {final} exists", hint="pass overwrite=True")
    with atomic_output(final, overwrite=overwrite) as tmp:
        _write(table, solutions, ms, tmp)
    return final


def _write(table, sol: JonesSolutions, ms: Path, out: Path) -> None:
    with table(str(ms / "ANTENNA"), ack=False) as ant:
        n_ant_table = ant.nrows()
    with table(str(ms), ack=False) as main:
        scan = int(main.getcol("SCAN_NUMBER", 0, 1)[0])
    nt, _, nchan, npol = sol.gains.shape
    cparam = np.ones((nt, n_ant_table, nchan, npol), np.complex64)
    flag = np.ones(cparam.shape, bool)
    snr = np.zeros(cparam.shape, np.float32)
    cparam[:, sol.antennas] = np.where(sol.flags, 1, sol.gains)
    flag[:, sol.antennas] = sol.flags
    snr[:, sol.antennas] = sol.snr
    with np.errstate(divide="ignore", invalid="ignore"):
        paramerr = np.where(snr > 0, np.abs(cparam) / snr, -1).astype(np.float32)
    nrow = nt * n_ant_table
    with table(str(out), _main_desc(), nrow=nrow, readonly=False, ack=False) as tb:
        tb.putcol("TIME", np.repeat(sol.times_s, n_ant_table))
        tb.putcol("INTERVAL", np.repeat(sol.interval_s, n_ant_table))
        tb.putcol("FIELD_ID", np.zeros(nrow, np.int32))
        tb.putcol("SPECTRAL_WINDOW_ID", np.zeros(nrow, np.int32))
        tb.putcol("ANTENNA1", np.tile(np.arange(n_ant_table, dtype=np.int32), nt))
        tb.putcol("ANTENNA2", np.full(nrow, -1 if sol.refant is None else sol.refant, np.int32))
        tb.putcol("SCAN_NUMBER", np.full(nrow, scan, np.int32))
        tb.putcol("OBSERVATION_ID", np.zeros(nrow, np.int32))
        tb.putcol("CPARAM", cparam.reshape(nrow, nchan, npol))
        tb.putcol("PARAMERR", paramerr.reshape(nrow, nchan, npol))
        tb.putcol("FLAG", flag.reshape(nrow, nchan, npol))
        tb.putcol("SNR", snr.reshape(nrow, nchan, npol))
        _copy_subtables(ms, out, sol.kind, sol.freqs_hz)
        keywords = {
            "ParType": "Complex",
            "MSName": ms.name,
            "VisCal": VISCAL[sol.kind],
            "PolBasis": "unknown",
        }
        for name in (*_SUBTABLES, "SPECTRAL_WINDOW"):
            keywords[name] = f"Table: {out / name}"
        tb.putkeywords(keywords)
        tb.putinfo({"type": "Calibration", "subType": VISCAL[sol.kind], "readme": ""})


def read_caltable(path: str | Path) -> JonesSolutions:
    """Read a ``B Jones`` or ``G Jones`` table (ours or CASA's).

    Returns
    -------
    JonesSolutions
        Shape (Nt, Nant_table, Nchan, Npol), antennas = every row of the
        table's ANTENNA subtable; ``refant`` from ANTENNA2.

    Raises
    ------
    CalibrationError
        If the table is missing or of another type.
    """
    from casacore.tables import table

    path = Path(path)
    if not path.is_dir():
        raise CalibrationError(f"no calibration table at {path}")
    with table(str(path), ack=False) as tb:
        viscal = tb.getkeyword("VisCal")
        kinds = {v: k for k, v in VISCAL.items()}
        if viscal not in kinds:
            raise CalibrationError(
                f"{path} is a {viscal!r} table; only B and G Jones are supported"
            )
        time = tb.getcol("TIME")
        ant = tb.getcol("ANTENNA1")
        cparam, flag, snr = tb.getcol("CPARAM"), tb.getcol("FLAG"), tb.getcol("SNR")
        interval = tb.getcol("INTERVAL")
        ref = tb.getcol("ANTENNA2")
        spw = tb.getcol("SPECTRAL_WINDOW_ID")
    if np.any(spw != 0):
        raise CalibrationError(f"{path} has solutions for several spectral windows")
    with table(str(path / "SPECTRAL_WINDOW"), ack=False) as sp:
        freqs = sp.getcell("CHAN_FREQ", 0)
    with table(str(path / "ANTENNA"), ack=False) as at:
        n_ant = at.nrows()
    times, t_idx = np.unique(time, return_inverse=True)
    shape = (times.size, n_ant, *cparam.shape[1:])
    gains = np.ones(shape, np.complex128)
    flags = np.ones(shape, bool)
    snrs = np.zeros(shape)
    gains[t_idx, ant], flags[t_idx, ant], snrs[t_idx, ant] = cparam, flag, snr
    span = np.zeros(times.size)
    span[t_idx] = interval
    refs = ref[ref >= 0]
    return JonesSolutions(
        kinds[viscal],
        gains,
        flags,
        snrs,
        times,
        span,
        np.arange(n_ant),
        np.asarray(freqs, float),
        int(refs[0]) if refs.size else None,
    )


def write_solutions(
    solution,
    ms: str | Path,
    *,
    overwrite: bool = True,
    paths: dict[str, str | Path] | None = None,
) -> dict[str, Path]:
    """Write the bandpass and gain tables of a :class:`~.solve.CalibrationSolution`.

    ``paths`` (``{"bandpass": ..., "gain": ...}``) names the tables; default
    ``<ms>.b`` and ``<ms>.g``.

    Returns
    -------
    dict
        ``{"bandpass": path, "gain": path}``.
    """
    paths = paths or {}
    return {
        "bandpass": write_caltable(
            solution.bandpass, ms, paths.get("bandpass"), overwrite=overwrite
        ),
        "gain": write_caltable(solution.gain, ms, paths.get("gain"), overwrite=overwrite),
    }
