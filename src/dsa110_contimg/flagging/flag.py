"""The flagging sequence on arrays, and its Measurement Set wrapper.

Order (``docs/dsa110.md`` §3): autocorrelations; zeros and NaNs; AOFlagger
RFI detection (SumThreshold strategy ``strategies/dsa110.lua``); a 7-sigma
MAD clip on amplitude residuals; extension of flags in time and frequency;
antennas more than 95% flagged dropped. The result carries flag fractions
per antenna, channel and polarisation for QA, and the time of each step.

Speed: a full group (4656 baselines x 768 channels x 24 integrations x 2
polarisations) takes about 25 s of CPU, two thirds in AOFlagger, spread
over the cores (``benchmarks/flagging.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.flagging.arrays import (
    FlagFractions,
    drop_bad_antennas,
    extend_flags,
    flag_fractions,
    flag_invalid,
    mad_clip,
)
from dsa110_contimg.flagging.rfi import aoflagger_mask


@dataclass(frozen=True)
class FlagParams:
    """Flagging settings.

    Attributes
    ----------
    autocorrelations, invalid, aoflagger : bool
        Run these steps.
    strategy : str or None
        AOFlagger Lua strategy (default: the repository's DSA-110 one).
    mad_sigma : float or None
        MAD clip threshold, robust sigmas (None skips the clip).
    mad_smooth_channels : int
        Running-median width of the clip's spectral model, channels.
    channel_fraction, time_fraction : float
        Flag a whole channel / integration of a baseline above these
        flagged fractions.
    dilate_channels, dilate_times : int
        Neighbours flagged around each flagged sample.
    antenna_limit : float
        Drop antennas flagged above this fraction.
    """

    autocorrelations: bool = True
    invalid: bool = True
    aoflagger: bool = True
    strategy: str | None = None
    mad_sigma: float | None = 7.0
    mad_smooth_channels: int = 15
    channel_fraction: float = 0.5
    time_fraction: float = 0.5
    dilate_channels: int = 1
    dilate_times: int = 0
    antenna_limit: float = 0.95


@dataclass
class FlagResult:
    """Flags and their QA.

    Attributes
    ----------
    flags : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) bool.
    fractions : FlagFractions
        After all steps (cross-correlations).
    dropped_antennas : list of int
        Antennas dropped for being mostly flagged.
    step_fractions : dict
        Cumulative flagged fraction after each step.
    step_seconds : dict
        Wall time of each step, s (``flag_ms`` adds ``read`` and ``write``).
    """

    flags: np.ndarray
    fractions: FlagFractions
    dropped_antennas: list[int]
    step_fractions: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for a job log: what each step added, what was dropped, the worst parts."""
        steps, before = [], 0.0
        for name, frac in self.step_fractions.items():
            steps.append(f"{name} +{100 * (frac - before):.2f}%")
            before = frac
        f = self.fractions
        worst_ant = max(f.per_antenna.items(), key=lambda kv: kv[1], default=None)
        parts = [
            f"{100 * f.total:.2f}% flagged",
            ", ".join(steps) or "no steps",
            f"dropped antennas {self.dropped_antennas}"
            if self.dropped_antennas
            else "none dropped",
        ]
        if worst_ant is not None:
            parts.append(f"worst antenna {worst_ant[0]} at {100 * worst_ant[1]:.1f}%")
        if f.per_channel.size:
            whole = int(np.count_nonzero(f.per_channel >= 1.0))
            parts.append(f"{whole}/{f.per_channel.size} channels flagged whole")
        return "; ".join(parts)

    def qa(self) -> dict:
        """JSON-able QA record."""
        return {
            **self.fractions.to_dict(),
            "dropped_antennas": self.dropped_antennas,
            "steps": self.step_fractions,
            "seconds": {k: round(v, 3) for k, v in self.step_seconds.items()},
        }


def flag_visibilities(
    vis: np.ndarray,
    flags: np.ndarray | None,
    ant1: np.ndarray,
    ant2: np.ndarray,
    params: FlagParams = FlagParams(),
) -> FlagResult:
    """Run the flagging sequence on a visibility cube.

    Parameters
    ----------
    vis : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) complex.
    flags : numpy.ndarray or None
        Existing flags, same shape (kept).
    ant1, ant2 : numpy.ndarray
        Shape (Nbls,): antennas of each baseline.
    params : FlagParams
        Settings.

    Returns
    -------
    FlagResult
    """
    out = np.zeros(vis.shape, bool) if flags is None else flags.copy()
    steps: dict[str, float] = {}
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def step(name: str) -> None:
        seconds[name] = time.perf_counter() - clock[0]
        steps[name] = np.count_nonzero(out) / out.size
        clock[0] = time.perf_counter()

    step("input")
    auto = np.asarray(ant1) == np.asarray(ant2)
    cross = np.flatnonzero(~auto)
    if params.autocorrelations:
        out[:, auto] = True
        step("autocorrelations")
    if params.invalid:
        flag_invalid(vis, out)
        step("invalid")
    if params.aoflagger and cross.size:
        aoflagger_mask(vis, out, cross, params.strategy)
        step("aoflagger")
    if params.mad_sigma is not None and cross.size:
        mad_clip(vis, out, params.mad_sigma, params.mad_smooth_channels, baselines=cross, out=out)
        step("mad_clip")
    out = extend_flags(
        out,
        params.channel_fraction,
        params.time_fraction,
        params.dilate_channels,
        params.dilate_times,
    )
    step("extend")
    out, dropped = drop_bad_antennas(out, ant1, ant2, params.antenna_limit)
    step("antennas")
    fractions = flag_fractions(out, ant1, ant2)
    seconds["fractions"] = time.perf_counter() - clock[0]
    return FlagResult(out, fractions, dropped, steps, seconds)


def _cube_index(ant1, ant2, time_s):
    """Rows -> (time, baseline) positions of a regular cube."""
    times, t_idx = np.unique(time_s, return_inverse=True)
    pairs, b_idx = np.unique(np.column_stack([ant1, ant2]), axis=0, return_inverse=True)
    if np.unique(t_idx * len(pairs) + b_idx.ravel()).size != len(time_s):
        raise InputDataError("MS has duplicate (time, baseline) rows; cannot flag it as a cube")
    return times, pairs, t_idx, b_idx.ravel()


def _time_major(ant1, ant2, time_s) -> np.ndarray | None:
    """The rows' baseline order if they are the cube's (a converted group), else None.

    That is: whole integrations in time order, each with the same baselines
    in the same order.
    """
    n_times = np.unique(time_s).size
    if len(time_s) % n_times:
        return None
    shape = (n_times, len(time_s) // n_times)
    t, a1, a2 = time_s.reshape(shape), ant1.reshape(shape), ant2.reshape(shape)
    pairs = np.column_stack([a1[0], a2[0]])
    if (
        (t == t[:, :1]).all()
        and (np.diff(t[:, 0]) > 0).all()
        and (a1 == a1[0]).all()
        and (a2 == a2[0]).all()
        and np.unique(pairs, axis=0).shape[0] == shape[1]
    ):
        return pairs
    return None


def _read_cube(tb, column: str, chunk_rows: int):
    """DATA and FLAG (with FLAG_ROW) as (Ntimes, Nbls, Nchan, Npol) cubes.

    Returns the cubes, the (ant1, ant2) pairs, and the rows' (time,
    baseline) positions, or None when the row order already is the cube's
    (a converted group, see :func:`_time_major`), which is then read
    straight into place.
    """
    ant1, ant2, time_s = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"), tb.getcol("TIME")
    pairs = _time_major(ant1, ant2, time_s)
    regular = pairs is not None
    if regular:
        ti = bi = None
        n_times = np.unique(time_s).size
    else:
        times, pairs, ti, bi = _cube_index(ant1, ant2, time_s)
        n_times = times.size
    nchan, npol = tb.getcell(column, 0).shape
    shape = (n_times, len(pairs), nchan, npol)
    nrows = tb.nrows()
    vis = np.zeros(shape, np.complex64)
    flags = np.ones(shape, bool)  # rows absent from the MS stay flagged
    vis_rows, flag_rows = vis.reshape(-1, nchan, npol), flags.reshape(-1, nchan, npol)
    for start in range(0, nrows, chunk_rows):
        n = min(chunk_rows, nrows - start)
        sl = slice(start, start + n)
        flag_row = tb.getcol("FLAG_ROW", start, n)[:, None, None]
        if regular:
            tb.getcolnp(column, vis_rows[sl], start, n)
            tb.getcolnp("FLAG", flag_rows[sl], start, n)
            flag_rows[sl] |= flag_row
        else:
            vis[ti[sl], bi[sl]] = tb.getcol(column, start, n)
            flags[ti[sl], bi[sl]] = tb.getcol("FLAG", start, n) | flag_row
    return vis, flags, pairs, None if regular else (ti, bi)


def flag_ms(
    ms: str | Path,
    params: FlagParams = FlagParams(),
    *,
    column: str = "DATA",
    chunk_rows: int = 65536,
) -> FlagResult:
    """Flag a Measurement Set in place (FLAG column), returning the QA.

    The MS is gathered into a (Ntimes, Nbls, Nchan, Npol) cube (missing
    rows are flagged), flagged with :func:`flag_visibilities`, and FLAG
    written back in row chunks; a converted group's rows already are in
    cube order and are read straight into place. Memory: about 1.9 GB for
    a full group (the visibilities and two flag cubes).

    Parameters
    ----------
    ms : str or Path
        The MS.
    params : FlagParams
        Settings.
    column : str
        Visibility column to inspect.
    chunk_rows : int
        Rows per read/write.

    Returns
    -------
    FlagResult
    """
    from casacore.tables import table

    with table(str(ms), readonly=False, ack=False) as tb:
        t0 = time.perf_counter()
        vis, flags, pairs, rows = _read_cube(tb, column, chunk_rows)
        read_s = time.perf_counter() - t0
        result = flag_visibilities(vis, flags, pairs[:, 0], pairs[:, 1], params)
        del vis, flags
        t0 = time.perf_counter()
        nchan, npol = result.flags.shape[2:]
        cube_rows = result.flags.reshape(-1, nchan, npol)
        for start in range(0, tb.nrows(), chunk_rows):
            sl = slice(start, min(start + chunk_rows, tb.nrows()))
            out = cube_rows[sl] if rows is None else result.flags[rows[0][sl], rows[1][sl]]
            tb.putcol("FLAG", out, start, sl.stop - start)
    result.step_seconds = {"read": read_s, **result.step_seconds}
    result.step_seconds["write"] = time.perf_counter() - t0
    return result
