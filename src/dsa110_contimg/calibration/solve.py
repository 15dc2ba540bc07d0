"""Solve a calibrator group: phase-only pre-solve, bandpass, then gains.

The sequence of the operating pipeline (``docs/dsa110.md`` §3), on our own
solver (:mod:`.stefcal`):

1. phase-only gains per ``presolve_solint_s`` (60 s) and block of
   ``presolve_chan_block`` channels (one 48-channel subband), so the
   bandpass solve is not smeared by phase drifts within the group (only
   the changes about each block's mean phase are used, so the bandpass keeps
   the full frequency structure);
2. bandpass per antenna, polarisation and channel over the whole group,
   against the model with the pre-solve phases folded in; solutions with
   SNR < ``bandpass_minsnr`` flagged, gaps of up to ``fill_gaps`` channels
   interpolated, normalised (``solnorm``);
3. amplitude+phase gains per antenna and polarisation per
   ``gain_solint_s`` (default the whole group), one value across the band,
   against the model with the bandpass folded in; SNR < ``gain_minsnr``
   flagged.

Baselines shorter than ``uvmin_lambda`` are ignored; antennas with fewer
than ``min_baselines`` usable baselines get no solution. Phases are referred
to the first usable antenna of ``refant_pads`` (pads 1-based; the antenna
whose NAME is the pad number, else id pad - 1).

All conventions are the MS's: ``DATA_ij = g_i conj(g_j) MODEL_ij`` with
``i = ANTENNA1``, so CASA's applycal with our tables divides the same way.
The visibilities are read once (see :func:`solve_calibrator`).

A solution cell (channel and polarisation of the bandpass, time and
polarisation of the gains) whose StEFCal iteration has not converged within
``max_iter`` is flagged; the count is in the table's QA
(``unconverged``) and :func:`solve_ms` logs a warning naming the MS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from dsa110_contimg.calibration.accumulate import (
    BaselineIndex,
    CellSums,
)
from dsa110_contimg.calibration.errors import CalibrationError
from dsa110_contimg.calibration.model import PointSource, channel_step_hz
from dsa110_contimg.calibration.msio import (
    DEFAULT_CHUNK_ROWS,
    VisChunk,
    iter_chunks,
    read_columns,
    read_info,
)
from dsa110_contimg.calibration.params import (
    SOLVER_NAME,
    SOLVER_VERSION,
    CalibrationSolution,
    SolveParams,
)
from dsa110_contimg.calibration.sequence import (
    Layout,
    fine_cells,
    fold_presolve,
    pad_of,
    presolve_phases,
    solution_qa,
    solve_bandpass,
    solve_gain,
    subset_antennas,
    sum_cells,
)
from dsa110_contimg.calibration.solutions import (
    JonesSolutions,
)
from dsa110_contimg.telescope import AIRY, PrimaryBeamModel

log = logging.getLogger(__name__)

__all__ = [
    "SOLVER_NAME",
    "SOLVER_VERSION",
    "CalibrationSolution",
    "SolveParams",
    "solve_calibrator",
    "solve_ms",
]


def solve_calibrator(
    chunks: Callable[[], Iterable[VisChunk]],
    ant1: np.ndarray,
    ant2: np.ndarray,
    time_s: np.ndarray,
    freqs_hz: np.ndarray,
    antenna_names: np.ndarray,
    params: SolveParams = SolveParams(),
    bandpass: JonesSolutions | None = None,
) -> CalibrationSolution:
    """Solve bandpass and gains from visibilities and a model.

    With ``bandpass`` given (e.g. read from a calibrator's table), only the
    gains are solved, against the model with that bandpass folded in: the
    per-tile gain calibration against a catalog sky model.

    The visibilities are read once: per-baseline sums are kept per "fine"
    cell (the intersection of pre-solve and gain intervals), which is all
    that the pre-solve, the bandpass (pre-solve phases folded in per cell)
    and the gains (bandpass folded in) need.

    Parameters
    ----------
    chunks : callable
        Returns an iterable of :class:`~.msio.VisChunk` (with ``data`` and
        ``model``).
    ant1, ant2, time_s : numpy.ndarray
        Shape (rows,): ANTENNA1, ANTENNA2, TIME (s) of all rows.
    freqs_hz : numpy.ndarray
        Shape (Nchan,): channel frequencies, Hz.
    antenna_names : numpy.ndarray
        ANTENNA NAME column (pad numbers as text), for the refant list.
    params : SolveParams
        Solver settings.
    bandpass : JonesSolutions, optional
        A fixed bandpass (antenna axis = MS antenna ids, as
        :func:`~.caltable.read_caltable` returns); skips the pre-solve and
        the bandpass solve.

    Returns
    -------
    CalibrationSolution

    Raises
    ------
    CalibrationError
        If no antenna could be solved.
    """
    index = BaselineIndex.from_rows(ant1, ant2)
    unique_times = np.unique(time_s)
    layout = Layout(index, np.asarray(freqs_hz, float), unique_times, np.asarray(antenna_names))
    nchan, nbl = freqs_hz.size, index.n_baselines
    fine_of_time, pbin_of_fine, gbin_of_fine, pcentres, gcentres = fine_cells(unique_times, params)

    sums = None
    cut_freqs = (
        layout.freqs_hz
        if params.uvmin_frequency_hz is None
        else np.full_like(layout.freqs_hz, params.uvmin_frequency_hz)
    )
    for ch in chunks():
        if sums is None:
            sums = CellSums(pbin_of_fine.size, nbl, nchan, ch.data.shape[2])
        bl = index.baseline_of_rows(ch.ant1, ch.ant2)
        ti = np.searchsorted(unique_times, ch.time_s)
        key = np.where(bl >= 0, fine_of_time[ti] * nbl + bl, -1)
        uv_m = np.hypot(ch.uvw_m[:, 0], ch.uvw_m[:, 1])
        sums.add(
            key,
            ti,
            ch.data,
            ch.model,
            ch.flag,
            ch.weight,
            uv_m,
            cut_freqs,
            params.uvmin_lambda,
        )
    if sums is None:
        raise CalibrationError("no visibilities to solve on")
    arr = sums.arrays()  # (Nfine, Nbl, Nchan, Npol)

    pre = None
    total = sum_cells(arr, np.zeros(pbin_of_fine.size, int), 1)
    one_gain_cell = gcentres.size == 1
    if bandpass is None:
        if params.presolve_solint_s is not None:
            pre, block_of_chan = presolve_phases(arr, pbin_of_fine, pcentres, layout, params)
        bp_sums = {k: v[0] for k, v in total.items()}
        if pre is not None:
            bp_sums["x"] = fold_presolve(arr, pre, pbin_of_fine, block_of_chan, index)
        bandpass = solve_bandpass(bp_sums, layout, params, time_s)
    else:
        bandpass = subset_antennas(bandpass, index)
    gain_sums = total if one_gain_cell else sum_cells(arr, gbin_of_fine, gcentres.size)
    gain = solve_gain(gain_sums, bandpass, layout, params, gcentres, time_s)
    pad = pad_of(layout.antenna_names, bandpass.refant)
    qa = solution_qa(bandpass, gain, pre, pad)
    if pre is not None:
        pre.meta["phase_scatter_deg"] = qa["presolve_phase_scatter_deg"]
    return CalibrationSolution(bandpass, gain, pre, pad, qa)


def _with_model(
    ms,
    info,
    data_column,
    chunk_rows,
    sources,
    pointing_dec_deg,
    predict="kernel",
    binning=None,
    beam=AIRY,
):
    """Chunks whose model is predicted from UVW instead of read from the MS.

    ``binning`` (``(k, bandpass, cut_freqs_hz, uvmin_lambda)``) yields the
    chunks averaged in bins of k channels, the bandpass applied
    (:mod:`.freqbin`).
    """
    from dsa110_contimg.calibration.freqbin import bin_chunk
    from dsa110_contimg.calibration.model import (
        drift_pointing_rows,
        predict_binned,
        predict_visibilities,
    )
    from dsa110_contimg.calibration.msio import _table

    with _table(Path(ms) / "FIELD") as fld:
        phase_dirs = fld.getcol("PHASE_DIR")[:, 0, :]
    for ch in iter_chunks(ms, (data_column,), chunk_rows, pols=info.solve_pols):
        pc = phase_dirs[ch.field_id]
        if pointing_dec_deg is None:
            pointing = pc
        else:
            pointing = drift_pointing_rows(ch.time_s, pointing_dec_deg)
        if binning is not None:
            k, bandpass, cut_freqs, uvmin = binning
            vis = predict_binned(ch.uvw_m, info.freqs_hz, sources, pc, pointing, k, beam=beam)
            bin_chunk(ch, vis, bandpass, k, cut_freqs, uvmin)
            yield ch
            continue
        vis = predict_visibilities(
            ch.uvw_m, info.freqs_hz, sources, pc, pointing, method=predict, beam=beam
        )
        ch.model = np.broadcast_to(vis[:, :, None], ch.data.shape)
        yield ch


def _warn_unconverged(ms: str | Path, sol: CalibrationSolution, params: SolveParams) -> None:
    """Say in the job log which solves did not converge (their cells are flagged)."""
    for what in ("presolve", "bandpass", "gain"):
        bad = sol.qa.get(f"{what}_unconverged")
        if not bad or not bad["cells"]:
            continue
        where = f" in {bad['channels']} channels" if bad["channels"] is not None else ""
        log.warning(
            "%s: %s solve did not converge in %d of %d cells%s (%d antenna solutions "
            "flagged; max_iter %d, tol %g)",
            ms,
            what,
            bad["cells"],
            bad["of_cells"],
            where,
            bad["antenna_solutions"],
            params.max_iter,
            params.tol,
        )


def solve_ms(
    ms: str | Path,
    params: SolveParams = SolveParams(),
    *,
    data_column: str = "DATA",
    model_column: str = "MODEL_DATA",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    bandpass_table: str | Path | None = None,
    sources: Sequence[PointSource] | None = None,
    pointing_dec_deg: float | None = None,
    predict: str = "kernel",
    chan_bin: int = 1,
    beam: PrimaryBeamModel = AIRY,
) -> CalibrationSolution:
    """Solve bandpass and gains on a calibrator MS whose MODEL_DATA holds the model.

    Parameters
    ----------
    ms : str or Path
        The Measurement Set (single SPW, ascending channels).
    params : SolveParams
        Solver settings.
    data_column, model_column : str
        Columns holding the observed and model visibilities.
    chunk_rows : int
        Rows read at a time.
    bandpass_table : str or Path, optional
        Apply this bandpass and solve gains only (per-tile gain
        calibration against a catalog sky model in MODEL_DATA); write the
        result with ``write_caltable(solution.gain, ms)``.
    sources : sequence of PointSource, optional
        Compute the model on the fly from these (as
        :func:`~.model.write_model_ms` would) instead of reading
        ``model_column``: saves writing and reading MODEL_DATA.
    pointing_dec_deg : float, optional
        With ``sources``: drift-scan declination for the primary beam
        (default: beam centred on the phase centre).
    predict : {"kernel", "reference"}
        With ``sources``: how the model is computed
        (:func:`~.model.predict_visibilities`; ``"reference"`` is the numpy
        sum, kept to compare against).
    chan_bin : int
        With ``sources`` and ``bandpass_table``: average the data (bandpass
        applied) and the model in bins of this many channels (the largest
        divisor of the channel count not above it) before the gain solve
        (:mod:`.freqbin`); 1 solves at full resolution. Needs evenly spaced
        channels (else full resolution).
    beam : PrimaryBeamModel
        With ``sources``: the primary beam of the model (default the Airy).

    Returns
    -------
    CalibrationSolution
        Write it with :func:`~.caltable.write_solutions`.
    """
    info = read_info(ms)
    fixed = None
    if bandpass_table is not None:
        from dsa110_contimg.calibration.caltable import read_caltable

        fixed = read_caltable(bandpass_table)
        if fixed.kind != "B" or fixed.gains.shape[2] != info.freqs_hz.size:
            raise CalibrationError(
                f"{bandpass_table} is not a bandpass for the {info.freqs_hz.size} channels of {ms}"
            )
    cols = read_columns(ms, ("ANTENNA1", "ANTENNA2", "TIME"))
    freqs, binning = info.freqs_hz, None
    if chan_bin > 1 and (sources is None or fixed is None):
        raise ValueError("chan_bin needs sources and a bandpass_table (a gains-only solve)")
    if chan_bin > 1 and channel_step_hz(freqs) is not None:
        from dsa110_contimg.calibration.freqbin import bin_width, binned_bandpass

        k = bin_width(freqs.size, chan_bin)
        cut = (
            freqs
            if params.uvmin_frequency_hz is None
            else np.full_like(freqs, params.uvmin_frequency_hz)
        )
        binning = (k, fixed, cut, params.uvmin_lambda)
        freqs, fixed = freqs.reshape(-1, k).mean(axis=1), binned_bandpass(fixed, k)
    if sources is None:
        chunks = iter_chunks(ms, (data_column, model_column), chunk_rows, pols=info.solve_pols)
    else:
        chunks = _with_model(
            ms, info, data_column, chunk_rows, sources, pointing_dec_deg, predict, binning, beam
        )
    sol = solve_calibrator(
        lambda: chunks,
        cols["ANTENNA1"],
        cols["ANTENNA2"],
        cols["TIME"],
        freqs,
        info.antenna_names,
        params,
        fixed,
    )
    if binning is not None:  # report the bandpass applied, not its binned stand-in
        index = BaselineIndex.from_rows(cols["ANTENNA1"], cols["ANTENNA2"])
        sol.bandpass = subset_antennas(binning[1], index)
        sol.qa = solution_qa(sol.bandpass, sol.gain, None, sol.refant_pad)
        sol.gain.meta["chan_bin"] = binning[0]
    for js in (sol.bandpass, sol.gain):
        js.meta["ms"] = str(Path(ms).resolve())
    _warn_unconverged(ms, sol, params)
    return sol
