"""The steps of the calibrator solve on per-cell visibility sums.

:func:`~dsa110_contimg.calibration.solve.solve_calibrator` reads the
visibilities once into sums per fine cell (:func:`fine_cells`); the steps
here work on those sums only: the phase-only pre-solve per interval and
channel block (:func:`presolve_phases`), folding it into the bandpass sums
(:func:`fold_presolve`), the bandpass (:func:`solve_bandpass`) and the gains
(:func:`solve_gain`) with StEFCal, the reference antenna's choice, and the
solutions' QA (:func:`solution_qa`). Pure functions over arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from dsa110_contimg.calibration.accumulate import (
    BaselineIndex,
    time_bins,
)
from dsa110_contimg.calibration.errors import CalibrationError
from dsa110_contimg.calibration.params import SolveParams
from dsa110_contimg.calibration.solutions import (
    JonesSolutions,
    fill_gaps,
    normalise_bandpass,
    phase_scatter_deg,
    reference_phases,
)
from dsa110_contimg.calibration.stefcal import stefcal, usable_antennas


@dataclass(frozen=True)
class Layout:
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
    layout: Layout, flags: np.ndarray, params: SolveParams
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


def fine_cells(unique_times: np.ndarray, params: SolveParams):
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


def sum_cells(arr: dict, groups: np.ndarray, n_groups: int) -> dict:
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


def presolve_phases(arr, pbin_of_fine, pcentres, layout: Layout, params: SolveParams):
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
    sums = sum_cells(blocks, pbin_of_fine, pcentres.size)
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


def fold_presolve(arr, pre, pbin_of_fine, block_of_chan, index) -> np.ndarray:
    """``sum_fine conj(p_1) p_2 X``: the bandpass's X with the pre-solve folded in.

    Flagged pre-solve phases count as 1 (no correction).
    """
    p = np.where(pre.flags, 1.0, pre.gains).astype(np.complex64)  # (Ntp, Na, Nblk, Npol)
    out = np.zeros(arr["x"].shape[1:], np.complex128)
    for cell, pb in enumerate(pbin_of_fine):
        fold = np.conj(p[pb, index.ant1]) * p[pb, index.ant2]  # (Nbl, Nblk, Npol)
        out += arr["x"][cell] * fold[:, block_of_chan]
    return out


def subset_antennas(sol: JonesSolutions, index: BaselineIndex) -> JonesSolutions:
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


def pad_of(names: np.ndarray, antenna_id: int | None) -> int | None:
    if antenna_id is None:
        return None
    name = str(names[antenna_id]).strip()
    return int(name) if name.isdigit() else antenna_id + 1


def _span(time_s: np.ndarray) -> tuple[float, float]:
    return float(time_s.min()), float(time_s.max())


def solve_bandpass(sums, layout, params, time_s) -> JonesSolutions:
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


def solve_gain(arr, bandpass, layout, params, gcentres, time_s) -> JonesSolutions:
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


def solution_qa(bandpass, gain, pre, pad) -> dict:
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
