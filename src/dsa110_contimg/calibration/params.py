"""The calibrator solve's parameters and result (:mod:`.solve` runs it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dsa110_contimg.calibration.solutions import (
    JonesSolutions,
)
from dsa110_contimg.telescope import OUTRIGGER_PADS

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
