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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dsa110_contimg.calibration.accumulate import (
    BaselineIndex,
    CellSums,
    time_bins,
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
from dsa110_contimg.calibration.solutions import (
    JonesSolutions,
    fill_gaps,
    normalise_bandpass,
    phase_scatter_deg,
    reference_phases,
)
from dsa110_contimg.calibration.stefcal import stefcal, usable_antennas
from dsa110_contimg.telescope import AIRY, OUTRIGGER_PADS, PrimaryBeamModel

log = logging.getLogger(__name__)

SOLVER_NAME = "dsa110-stefcal"
SOLVER_VERSION = "1.0"

DEFAULT_REFANT_PADS: tuple[int, ...] = tuple(p for p in OUTRIGGER_PADS if p != 117)
"""Pad 103 first, then the other active outriggers (104..116)."""


@dataclass(frozen=True)
class SolveParams:
    """Parameters of a calibrator solve (defaults: the operating pipeline's).

    Attributes
    ----------
    refant_pads : tuple of int
        Reference antenna fallback list, DSA pad numbers (1-based).
    refant_min_good_fraction : float
        A candidate is used if at least this fraction of its bandpass
        solutions is unflagged.
    presolve_solint_s : float or None
        Phase-only pre-solve interval, seconds; None skips the pre-solve.
    presolve_chan_block : int
        Channels averaged per pre-solve solution (48 = one subband).
    bandpass_minsnr, gain_minsnr : float
        Solutions below these SNRs are flagged.
    gain_solint_s : float or None
        Gain solution interval, seconds; None for the whole group.
    uvmin_lambda : float
        Ignore baselines shorter than this, wavelengths, converted with
        each channel's own frequency. (CASA's ``uvrange`` selects whole rows
        with one frequency for the window, the lowest channel's as measured
        on a 768-channel window, so CASA drops baselines that ours uses in
        the upper channels; that is the whole difference between our
        solutions and CASA's at the cut, where ours are slightly closer to
        the truth in median and 99th percentile. See
        ``benchmarks/calibration.py``.)
    uvmin_frequency_hz : float or None
        Convert the cut with this one frequency for every channel instead
        (whole rows kept or dropped): the window's lowest channel reproduces
        CASA's selection, for comparisons and for tables like the operating
        pipeline's.
    min_baselines : int
        Minimum usable baselines per antenna.
    fill_gaps : int
        Longest run of flagged bandpass channels to interpolate.
    solnorm_amplitude, solnorm_phase : bool
        Normalise each bandpass to mean amplitude 1 / mean phase 0 across
        channels (per antenna and polarisation); the gains absorb it.
    max_iter, tol : int, float
        StEFCal iteration limit and convergence tolerance.
    batch : int
        Solution cells solved per dense batch (memory ~ batch x Na^2 x 40 B).
    """

    refant_pads: tuple[int, ...] = DEFAULT_REFANT_PADS
    refant_min_good_fraction: float = 0.5
    presolve_solint_s: float | None = 60.0
    presolve_chan_block: int = 48
    bandpass_minsnr: float = 5.0
    gain_minsnr: float = 3.0
    gain_solint_s: float | None = None
    uvmin_lambda: float = 1000.0
    uvmin_frequency_hz: float | None = None
    min_baselines: int = 4
    fill_gaps: int = 3
    solnorm_amplitude: bool = True
    solnorm_phase: bool = True
    max_iter: int = 200
    tol: float = 1e-10
    batch: int = 256


@dataclass
class CalibrationSolution:
    """Everything one calibrator solve produced.

    Attributes
    ----------
    bandpass : JonesSolutions
        ``B`` solutions, shape (1, Na, Nchan, Npol).
    gain : JonesSolutions
        ``G`` solutions, shape (Ntg, Na, 1, Npol).
    presolve : JonesSolutions or None
        Phase-only pre-solve, shape (Ntp, Na, Nblock, Npol) (not written
        to a table; kept for QA).
    refant_pad : int or None
        Pad number of the reference antenna used.
    qa : dict
        JSON-able QA: flag fractions, SNRs, phase scatter, refant.
    """

    bandpass: JonesSolutions
    gain: JonesSolutions
    presolve: JonesSolutions | None
    refant_pad: int | None
    qa: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Layout:
    """Row-independent facts shared by the passes."""

    index: BaselineIndex
    freqs_hz: np.ndarray
    unique_times: np.ndarray
    antenna_names: np.ndarray


def _pad_to_antenna(pads: Iterable[int], names: np.ndarray) -> list[int]:
    """MS antenna ids of pads: by NAME (pad number as text), else pad - 1."""
    by_name = {str(n).strip(): i for i, n in enumerate(names)}
    return [by_name.get(str(p), p - 1) for p in pads]


def _solve_cells(sums: dict, index: BaselineIndex, phase_only: bool, params: SolveParams):
    """Run StEFCal on every cell of per-baseline sums.

    Parameters
    ----------
    sums : dict
        ``x``, ``y``, ``z``, ``n`` each shaped (Nbl, *cells).

    Returns
    -------
    gains, flags, snr : numpy.ndarray
        Shape (*cells, Na).
    unconverged : numpy.ndarray
        Shape (*cells,) int: antenna solutions flagged because the cell's
        iteration did not converge (0 where it did).
    """
    cells = sums["x"].shape[1:]
    flat = {k: v.reshape(v.shape[0], -1) for k, v in sums.items()}
    ncell = flat["x"].shape[1]
    na = index.n_antennas
    gains = np.zeros((ncell, na), np.complex128)
    flags = np.ones((ncell, na), bool)
    snr = np.zeros((ncell, na))
    unconverged = np.zeros(ncell, int)
    for lo in range(0, ncell, params.batch):
        sl = slice(lo, lo + params.batch)
        mats = {k: index.to_matrices(v[:, sl], hermitian=(k == "x")) for k, v in flat.items()}
        res = stefcal(
            mats["x"],
            mats["y"],
            mats["z"],
            mats["n"],
            phase_only=phase_only,
            min_baselines=params.min_baselines,
            max_iter=params.max_iter,
            tol=params.tol,
        )
        gains[sl], flags[sl], snr[sl] = res.gains, res.flags, res.snr
        if res.unconverged.any():
            usable = usable_antennas(mats["y"][res.unconverged], params.min_baselines)
            unconverged[sl][res.unconverged] = usable.sum(-1)
    shape = (*cells, na)
    return (
        gains.reshape(shape),
        flags.reshape(shape),
        snr.reshape(shape),
        unconverged.reshape(cells),
    )


def _unconverged_qa(counts: np.ndarray, chan_axis: int | None) -> dict:
    """QA of the cells whose solve did not converge (``counts`` from :func:`_solve_cells`).

    ``chan_axis``: the channel axis of ``counts`` (None when the cells have none).
    """
    bad = counts > 0
    return {
        "cells": int(bad.sum()),
        "of_cells": int(bad.size),
        "antenna_solutions": int(counts.sum()),
        "channels": (
            int(np.moveaxis(bad, chan_axis, 0).reshape(bad.shape[chan_axis], -1).any(1).sum())
            if chan_axis is not None
            else None
        ),
    }


def _antenna_last_to_table(a: np.ndarray) -> np.ndarray:
    """(Nt, Nchan, Npol, Na) -> (Nt, Na, Nchan, Npol)."""
    return np.moveaxis(a, -1, 1)


def _refant_order(
    layout: _Layout, flags: np.ndarray, params: SolveParams
) -> tuple[np.ndarray, bool]:
    """Compact antenna indices in reference preference order.

    ``flags`` is (..., Na). The chosen reference is the first candidate of
    the fallback list with enough unflagged solutions; then come the other
    candidates, then every other antenna by decreasing good fraction.
    Returns the order and whether the list was exhausted.
    """
    index = layout.index
    good = 1.0 - flags.reshape(-1, index.n_antennas).mean(0)
    ids = _pad_to_antenna(params.refant_pads, layout.antenna_names)
    present = [int(index.compact(np.array([a]))[0]) for a in ids if a < index._compact.size]
    present = [c for c in present if c >= 0]
    usable = [c for c in present if good[c] >= params.refant_min_good_fraction]
    others = [int(c) for c in np.argsort(-good, kind="stable") if c not in present]
    if usable:
        first = usable[0]
        order = [first] + [c for c in present if c != first] + others
        return np.array(order), False
    return np.array(others + present), True


def _fine_cells(unique_times: np.ndarray, params: SolveParams):
    """Cells fine enough for every solve: unique (pre-solve bin, gain bin) pairs.

    Returns
    -------
    fine_of_time : numpy.ndarray
        Shape (Ntimes,): fine cell of each integration.
    pbin_of_fine, gbin_of_fine : numpy.ndarray
        Shape (Nfine,): pre-solve and gain bin of each fine cell.
    pcentres, gcentres : numpy.ndarray
        Bin centre times, s.
    """
    pbin, pcentres = time_bins(unique_times, params.presolve_solint_s)
    gbin, gcentres = time_bins(unique_times, params.gain_solint_s)
    pairs, fine_of_time = np.unique(np.column_stack([pbin, gbin]), axis=0, return_inverse=True)
    return fine_of_time.ravel(), pairs[:, 0], pairs[:, 1], pcentres, gcentres


def _sum_cells(arr: dict, groups: np.ndarray, n_groups: int) -> dict:
    """Add fine cells (axis 0) into groups, in double precision."""
    out = {}
    for k, v in arr.items():
        dtype = np.complex128 if np.iscomplexobj(v) else np.float64
        if n_groups == 1:
            out[k] = v.sum(axis=0, dtype=dtype)[None]
        elif n_groups == len(groups) and np.array_equal(groups, np.arange(n_groups)):
            out[k] = v.astype(dtype)
        else:
            acc = np.zeros((n_groups, *v.shape[1:]), dtype)
            for cell, group in enumerate(groups):
                acc[group] += v[cell]
            out[k] = acc
    return out


def _presolve(arr, pbin_of_fine, pcentres, layout: _Layout, params: SolveParams):
    """Phase-only solve per pre-solve bin and channel block.

    Returns
    -------
    JonesSolutions
        Shape (Ntp, Na, Nblock, Npol); phases referenced, each block's mean
        phase over time removed.
    block_of_chan : numpy.ndarray
        Shape (Nchan,): block of each channel.
    """
    index, freqs = layout.index, layout.freqs_hz
    nchan = freqs.size
    starts = np.arange(0, nchan, params.presolve_chan_block)
    blocks = {k: np.add.reduceat(v, starts, axis=2) for k, v in arr.items()}
    sums = _sum_cells(blocks, pbin_of_fine, pcentres.size)
    sums = {k: np.moveaxis(v, 1, 0) for k, v in sums.items()}  # (Nbl, Nt, Nblk, Npol)
    g, f, s, bad = _solve_cells(sums, index, True, params)  # (Nt, Nblk, Npol, Na)
    order, _ = _refant_order(layout, f, params)
    g = reference_phases(g, f, order)
    # Keep only the phase *changes* in time: the bandpass absorbs each block's
    # mean phase. Otherwise the bandpass would carry jumps between blocks that a
    # single band-wide gain could not undo.
    mean = np.sum(np.where(f, 0, g), axis=0, keepdims=True)
    g = np.where(f, 0, g * np.conj(mean) / np.maximum(np.abs(mean), 1e-300))
    width = np.full(pcentres.size, params.presolve_solint_s or 0.0)
    block_freqs = np.add.reduceat(freqs, starts) / np.diff(np.append(starts, nchan))
    sol = JonesSolutions(
        "G",
        _antenna_last_to_table(g),
        _antenna_last_to_table(f),
        _antenna_last_to_table(s),
        pcentres,
        width,
        index.antennas,
        block_freqs,
        int(index.antennas[order[0]]),
        {"unconverged": _unconverged_qa(bad, None)},
    )
    return sol, np.arange(nchan) // params.presolve_chan_block


def _fold_presolve(arr, pre, pbin_of_fine, block_of_chan, index) -> np.ndarray:
    """``sum_fine conj(p_1) p_2 X``: the bandpass's X with the pre-solve folded in.

    Flagged pre-solve phases count as 1 (no correction).
    """
    p = np.where(pre.flags, 1.0, pre.gains).astype(np.complex64)  # (Ntp, Na, Nblk, Npol)
    out = np.zeros(arr["x"].shape[1:], np.complex128)
    for cell, pb in enumerate(pbin_of_fine):
        fold = np.conj(p[pb, index.ant1]) * p[pb, index.ant2]  # (Nbl, Nblk, Npol)
        out += arr["x"][cell] * fold[:, block_of_chan]
    return out


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
    layout = _Layout(index, np.asarray(freqs_hz, float), unique_times, np.asarray(antenna_names))
    nchan, nbl = freqs_hz.size, index.n_baselines
    fine_of_time, pbin_of_fine, gbin_of_fine, pcentres, gcentres = _fine_cells(unique_times, params)

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
    total = _sum_cells(arr, np.zeros(pbin_of_fine.size, int), 1)
    one_gain_cell = gcentres.size == 1
    if bandpass is None:
        if params.presolve_solint_s is not None:
            pre, block_of_chan = _presolve(arr, pbin_of_fine, pcentres, layout, params)
        bp_sums = {k: v[0] for k, v in total.items()}
        if pre is not None:
            bp_sums["x"] = _fold_presolve(arr, pre, pbin_of_fine, block_of_chan, index)
        bandpass = _solve_bandpass(bp_sums, layout, params, time_s)
    else:
        bandpass = _subset_antennas(bandpass, index)
    gain_sums = total if one_gain_cell else _sum_cells(arr, gbin_of_fine, gcentres.size)
    gain = _solve_gain(gain_sums, bandpass, layout, params, gcentres, time_s)
    pad = _pad_of(layout.antenna_names, bandpass.refant)
    qa = _qa(bandpass, gain, pre, pad)
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


def _subset_antennas(sol: JonesSolutions, index: BaselineIndex) -> JonesSolutions:
    """Rows of a table's solutions for the antennas present in the data."""
    n = sol.gains.shape[1]
    rows = np.clip(index.antennas, 0, n - 1)
    missing = (index.antennas >= n)[None, :, None, None]
    return JonesSolutions(
        sol.kind,
        sol.gains[:, rows],
        sol.flags[:, rows] | missing,
        sol.snr[:, rows],
        sol.times_s,
        sol.interval_s,
        index.antennas,
        sol.freqs_hz,
        sol.refant,
        dict(sol.meta),
    )


def _pad_of(names: np.ndarray, antenna_id: int | None) -> int | None:
    if antenna_id is None:
        return None
    name = str(names[antenna_id]).strip()
    return int(name) if name.isdigit() else antenna_id + 1


def _span(time_s: np.ndarray) -> tuple[float, float]:
    return float(time_s.min()), float(time_s.max())


def _solve_bandpass(sums, layout, params, time_s) -> JonesSolutions:
    g, f, s, bad = _solve_cells(sums, layout.index, False, params)  # (Nchan, Npol, Na)
    if not (~f).any():
        stalled = f" ({int((bad > 0).sum())} cells did not converge)" if bad.any() else ""
        raise CalibrationError(
            f"bandpass solve found no usable antenna{stalled}",
            hint="check flags, the uv cut, max_iter and that MODEL_DATA holds the calibrator",
        )
    f |= s < params.bandpass_minsnr
    order, exhausted = _refant_order(layout, f, params)
    g = reference_phases(g, f, order)
    g, f = np.moveaxis(g, -1, 0), np.moveaxis(f, -1, 0)  # (Na, Nchan, Npol)
    g = np.where(f, 0, g)
    gt, ft = np.swapaxes(g, 1, 2), np.swapaxes(f, 1, 2)  # channel axis last
    gt, ft = fill_gaps(gt, ft, params.fill_gaps)
    gt = normalise_bandpass(gt, ft, params.solnorm_amplitude, params.solnorm_phase)
    g, f = np.swapaxes(gt, 1, 2), np.swapaxes(ft, 1, 2)
    s = np.moveaxis(s, -1, 0)
    t0, t1 = _span(time_s)
    meta = {
        "refant_fallback_exhausted": exhausted,
        "params": asdict(params),
        "unconverged": _unconverged_qa(bad, 0),
    }
    return JonesSolutions(
        "B",
        np.where(f, 0, g)[None],
        f[None],
        np.where(f, 0, s)[None],
        np.array([0.5 * (t0 + t1)]),
        np.array([t1 - t0]),
        layout.index.antennas,
        layout.freqs_hz,
        int(layout.index.antennas[order[0]]),
        meta,
    )


def _solve_gain(arr, bandpass, layout, params, gcentres, time_s) -> JonesSolutions:
    index = layout.index
    b = bandpass.gains[0]  # (Na, Nchan, Npol)
    bf = bandpass.flags[0]
    b1, b2 = b[index.ant1], b[index.ant2]  # (Nbl, Nchan, Npol)
    ok = ~(bf[index.ant1] | bf[index.ant2])
    fold = np.where(ok, np.conj(b1) * b2, 0)  # conj(B_1 conj(B_2))
    amp2 = np.where(ok, np.abs(b1) ** 2 * np.abs(b2) ** 2, 0)
    sums = {
        "x": np.sum(arr["x"] * fold, axis=2),
        "y": np.sum(arr["y"] * amp2, axis=2),
        "z": np.sum(np.where(ok, arr["z"], 0), axis=2),
        "n": np.sum(np.where(ok, arr["n"], 0), axis=2),
    }  # (Ntg, Nbl, Npol)
    sums = {k: np.moveaxis(v, 1, 0) for k, v in sums.items()}
    g, f, s, bad = _solve_cells(sums, index, False, params)  # (Ntg, Npol, Na)
    f |= s < params.gain_minsnr
    order, _ = _refant_order(layout, bandpass.flags[0].transpose(1, 2, 0), params)
    g = reference_phases(g, f, order)
    to_table = lambda a: np.moveaxis(a, -1, 1)[:, :, None, :]  # noqa: E731
    g, f, s = to_table(g), to_table(f), to_table(s)
    interval = (
        np.full(gcentres.size, params.gain_solint_s)
        if params.gain_solint_s
        else np.array([np.ptp(time_s)])
    )
    return JonesSolutions(
        "G",
        np.where(f, 0, g),
        f,
        np.where(f, 0, s),
        gcentres,
        interval,
        index.antennas,
        np.array([layout.freqs_hz.mean()]),
        int(index.antennas[order[0]]),
        {"params": asdict(params), "unconverged": _unconverged_qa(bad, None)},
    )


def _median_snr(sol: JonesSolutions) -> float:
    ok = ~sol.flags
    return float(np.median(sol.snr[ok])) if ok.any() else 0.0


def _qa(bandpass, gain, pre, pad) -> dict:
    qa = {
        "refant_pad": pad,
        "bandpass_flag_fraction": bandpass.flag_fraction,
        "bandpass_median_snr": _median_snr(bandpass),
        "gain_flag_fraction": gain.flag_fraction,
        "gain_median_snr": _median_snr(gain),
        "gain_min_snr": float(gain.snr[~gain.flags].min()) if (~gain.flags).any() else 0.0,
        "antennas_without_solution": int(np.all(bandpass.flags[0], axis=(1, 2)).sum()),
        "presolve_phase_scatter_deg": (
            phase_scatter_deg(pre.gains, pre.flags, axis=0) if pre is not None else None
        ),
        "bandpass_unconverged": bandpass.meta.get("unconverged"),
        "gain_unconverged": gain.meta.get("unconverged"),
        "presolve_unconverged": pre.meta.get("unconverged") if pre is not None else None,
    }
    bandpass.meta["qa"] = {
        k: qa[k] for k in ("bandpass_flag_fraction", "bandpass_median_snr", "bandpass_unconverged")
    }
    gain.meta["qa"] = {
        k: qa[k]
        for k in (
            "gain_flag_fraction",
            "gain_median_snr",
            "gain_min_snr",
            "presolve_phase_scatter_deg",
            "gain_unconverged",
            "presolve_unconverged",
        )
    }
    return qa


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
        sol.bandpass = _subset_antennas(binning[1], index)
        sol.qa = _qa(sol.bandpass, sol.gain, None, sol.refant_pad)
        sol.gain.meta["chan_bin"] = binning[0]
    for js in (sol.bandpass, sol.gain):
        js.meta["ms"] = str(Path(ms).resolve())
    _warn_unconverged(ms, sol, params)
    return sol
