"""The flagging sequence on arrays, and its Measurement Set wrapper.

Order (``docs/dsa110.md`` §3): autocorrelations; zeros and NaNs; AOFlagger
RFI detection (SumThreshold strategy ``strategies/dsa110.lua``); a 7-sigma
MAD clip on amplitude residuals; extension of flags in time and frequency;
antennas more than 95% flagged dropped. The result carries flag fractions
per antenna, channel and polarisation for QA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.flagging.arrays import (
    FlagFractions,
    drop_bad_antennas,
    extend_flags,
    flag_autocorrelations,
    flag_fractions,
    flag_invalid,
    mad_clip,
)
from dsa110_contimg.flagging.rfi import aoflagger_flags


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
    """

    flags: np.ndarray
    fractions: FlagFractions
    dropped_antennas: list[int]
    step_fractions: dict[str, float] = field(default_factory=dict)

    def qa(self) -> dict:
        """JSON-able QA record."""
        return {
            **self.fractions.to_dict(),
            "dropped_antennas": self.dropped_antennas,
            "steps": self.step_fractions,
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
    steps: dict[str, float] = {"input": float(out.mean())}
    auto = np.asarray(ant1) == np.asarray(ant2)
    if params.autocorrelations:
        out |= flag_autocorrelations(ant1, ant2, vis.shape)
        steps["autocorrelations"] = float(out.mean())
    if params.invalid:
        out |= flag_invalid(vis)
        steps["invalid"] = float(out.mean())
    cross = ~auto
    if params.aoflagger and cross.any():
        out[:, cross] |= aoflagger_flags(vis[:, cross], out[:, cross], params.strategy)
        steps["aoflagger"] = float(out.mean())
    if params.mad_sigma is not None and cross.any():
        out[:, cross] |= mad_clip(
            vis[:, cross], out[:, cross], params.mad_sigma, params.mad_smooth_channels
        )
        steps["mad_clip"] = float(out.mean())
    out = extend_flags(
        out,
        params.channel_fraction,
        params.time_fraction,
        params.dilate_channels,
        params.dilate_times,
    )
    steps["extend"] = float(out.mean())
    out, dropped = drop_bad_antennas(out, ant1, ant2, params.antenna_limit)
    steps["antennas"] = float(out.mean())
    return FlagResult(out, flag_fractions(out, ant1, ant2), dropped, steps)


def _cube_index(ant1, ant2, time_s):
    """Rows -> (time, baseline) positions of a regular cube."""
    times, t_idx = np.unique(time_s, return_inverse=True)
    pairs, b_idx = np.unique(np.column_stack([ant1, ant2]), axis=0, return_inverse=True)
    if np.unique(t_idx * len(pairs) + b_idx.ravel()).size != len(time_s):
        raise InputDataError("MS has duplicate (time, baseline) rows; cannot flag it as a cube")
    return times, pairs, t_idx, b_idx.ravel()


def flag_ms(
    ms: str | Path,
    params: FlagParams = FlagParams(),
    *,
    column: str = "DATA",
    chunk_rows: int = 16384,
) -> FlagResult:
    """Flag a Measurement Set in place (FLAG column), returning the QA.

    The MS is gathered into a (Ntimes, Nbls, Nchan, Npol) cube (missing
    rows are flagged), flagged with :func:`flag_visibilities`, and FLAG
    written back in row chunks. Memory: about 1.5 GB for a full group.

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
        ant1, ant2, time_s = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"), tb.getcol("TIME")
        times, pairs, ti, bi = _cube_index(ant1, ant2, time_s)
        nchan, npol = tb.getcell(column, 0).shape
        shape = (times.size, len(pairs), nchan, npol)
        vis = np.zeros(shape, np.complex64)
        flags = np.ones(shape, bool)  # rows absent from the MS stay flagged
        for start in range(0, tb.nrows(), chunk_rows):
            n = min(chunk_rows, tb.nrows() - start)
            sl = slice(start, start + n)
            vis[ti[sl], bi[sl]] = tb.getcol(column, start, n)
            flags[ti[sl], bi[sl]] = (
                tb.getcol("FLAG", start, n) | tb.getcol("FLAG_ROW", start, n)[:, None, None]
            )
        result = flag_visibilities(vis, flags, pairs[:, 0], pairs[:, 1], params)
        del vis
        for start in range(0, tb.nrows(), chunk_rows):
            n = min(chunk_rows, tb.nrows() - start)
            sl = slice(start, start + n)
            tb.putcol("FLAG", result.flags[ti[sl], bi[sl]], start, n)
    return result
