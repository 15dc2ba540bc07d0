"""Variable and ESE candidates: the presets of ``docs/dsa110.md`` and an ESE heuristic.

Selection (:func:`select_candidates`): a source with at least
``min_epochs`` measurements is a candidate when all three of its metrics
reach the preset's thresholds: ``sigma_deviation >= sigma``,
``chi2_nu >= chi2_nu`` and ``eta >= eta`` (see
:mod:`~dsa110_contimg.variability.metrics` for the definitions). Its score is
the geometric mean of the three metric / threshold ratios (>= 1 for every
candidate; larger = more significant).

=============  =====  =======  ===  ==========
preset         sigma  chi2_nu  eta  frac_floor
=============  =====  =======  ===  ==========
conservative   5      4        3    0.015
moderate       3.5    2.5      2    0.015
sensitive      2.5    1.5      1    0.01
=============  =====  =======  ===  ==========

The default is ``conservative``, the only preset whose false-positive rate
stays below 1/1000 for every light-curve length: over 2x10^5 simulated
steady light curves (Gaussian errors, SNR 10-300) it flagged at most one
(<= 5e-6) for 3, 4, 6, 10, 20 or 40 epochs, where ``moderate`` flags
2.3e-4 at 4 epochs, 7.8e-4 at 6, 1.2e-3 at 10 (exceeding 1/1000), 1.2e-4 at
20 and none at 40, and ``sensitive`` 0.7-6%. ``conservative``
still catches flares of 15-27 sigma lasting 1-3 epochs and ESE dips of
20-50% over 4-10 epochs at SNR 30 (the tests; ``benchmarks/variability.py``
prints the rates). Candidates need at least ``min_epochs`` = 3 epochs.
The rates above are for thermal errors only, without the floor.

``frac_floor`` is the systematic error floor: a fraction of the flux added
in quadrature to every error before the metrics are formed
(:func:`~dsa110_contimg.variability.metrics.with_floor`), for the
calibration's epoch-to-epoch flux-scale scatter (1-2% is the normalisation's
aim in ``docs/dsa110.md``; 0.7% on 3C286 in the demo) that thermal errors
omit. Without it, 1% of scatter alone makes ``conservative`` flag 83-94%
of steady sources of SNR 10-3000 (4-40 epochs); with the 1.5% floor it
flags none of 10^5 at 1% scatter and at most 8.9e-4 at 2%
(``benchmarks/variability.py``; a 1% floor would flag 3-8% at 2%). The
price, on the SNR 30 simulations above: 0.17% of the flares and 0.8% of the
ESEs without caustics missed (0% and 0.3% without a floor; 1.7% and 1.8%
with a 2% floor). A bright source's changes are then measured against the
floor: at 1.5%, a 10% change is a 6.7 sigma one. The floor is applied as
each measurement is added; after changing it, rebuild the metrics
(``variability.stage.recompute_metrics``).

ESE classification (:func:`classify_light_curve`), applied to candidates:
an extreme scattering event (a plasma lens crossing the line of sight) is a
dip lasting weeks to months, roughly symmetric in time (the lens enters and
leaves the same way), often bracketed by brief brightenings (caustics) at
its edges. Measurements of one transit (within ``epoch_days``) form one
epoch; epochs are compared, in units of their errors (thermal plus the
preset's floor), with the quiescent level: the weighted mean of the largest
set of epochs consistent (within 3 sigma) with one of them, or of the set
holding the first or the last epoch (a long ESE can cover most of a short
light curve; the level on either side of it is then the quiescent one).
The light curve is an ESE, for one of those levels, when

* it has exactly one dip: a run of consecutive epochs more than
  ``dip_sigma`` below the level (runs split by at most ``merge_gap_epochs``
  epochs that are not high are one run), at least ``min_dip_epochs`` of
  them low, whose summed deviation ``sum(z) / sqrt(n)`` is below
  ``-2 dip_sigma`` (shorter or weaker runs are noise: a year of daily
  epochs holds a pair of 2-sigma lows by chance one time in five);
* the dip has ended and had begun within the light curve (an epoch at the
  level on both sides: a step down that has not recovered is not an ESE,
  yet; the stage classifies again at every epoch, and an unreviewed
  candidate turns ``ese`` once the flux has come back);
* its duration, from midway between the last epoch before it and its first
  epoch to midway between its last epoch and the first one after, is
  between ``min_duration_days`` and ``max_duration_days``;
* it is roughly symmetric: its ingress and egress (from each edge to the
  time the deficit first reaches half the depth) differ by at most
  ``max_asymmetry`` of the duration (0 for any symmetric shape, 0.5 for a
  sudden drop with a linear recovery);
* any epoch more than ``2 dip_sigma`` above the level lies within
  ``caustic_fraction`` durations of the dip's edges (a caustic), none
  elsewhere.

Otherwise it is a generic ``variable``. The details record the level, the
dip's start, end, duration, depth (median deficit of the epochs past its
half-depth points, a fraction of the level), asymmetry,
whether caustics were seen before and after it, and which rule failed
(``ese_reason``).

The thresholds are one typed object, :class:`ESEOptions`
(:data:`DEFAULT_ESE_OPTIONS`):

=================  ========  ==========================================
option             default   why
=================  ========  ==========================================
min_duration_days  7         ESEs last weeks to months; a dip of a day
                             or two is a scintillation or a bad epoch
max_duration_days  365       the longest ESEs seen last about a year
min_dip_epochs     2         fewest low epochs of a dip
dip_sigma          2         an epoch is low below the level by this
                             many sigma; the whole dip twice that
merge_gap_epochs   1         one noisy epoch does not split a long dip
max_asymmetry      0.25      (egress - ingress) / duration
caustic_fraction   0.5       caustics within half a duration of an edge
epoch_days         0.5       sightings of one transit: one epoch
=================  ========  ==========================================

A 2-day 20% dip is therefore ``variable`` and a 60-day one ``ese``
(``tests/variability/test_ese.py``); ``benchmarks/ese_recovery.py`` measures
completeness and false positives on the daily cadence. An ESE is achromatic
only to first order (its refraction scales as the wavelength squared, so
the depth and the caustics change across 1.31-1.50 GHz); the light curves
here are of the whole band, so no colour test is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsa110_contimg.variability.metrics import (
    EPOCH_DAYS,
    MetricsState,
    compute_metrics,
    transit_epochs,
    with_floor,
)


@dataclass(frozen=True)
class Preset:
    """Thresholds of a candidate preset (all must be reached) and its error floor.

    ``frac_floor`` is the fractional systematic error added to every error
    in quadrature before the metrics are formed (see the module notes).
    ``ese`` are the thresholds its candidates are classified with (None:
    :data:`DEFAULT_ESE_OPTIONS`); the pipeline builds the whole record from
    ``settings.variability``.
    """

    name: str
    sigma: float
    chi2_nu: float
    eta: float
    min_epochs: int = 3
    frac_floor: float = 0.0
    ese: ESEOptions | None = None


PRESETS: dict[str, Preset] = {
    "conservative": Preset("conservative", 5.0, 4.0, 3.0, frac_floor=0.015),
    "moderate": Preset("moderate", 3.5, 2.5, 2.0, frac_floor=0.015),
    "sensitive": Preset("sensitive", 2.5, 1.5, 1.0, frac_floor=0.01),
}
DEFAULT_PRESET = "conservative"


def get_preset(preset: str | Preset | None = None) -> Preset:
    """A preset by name (default :data:`DEFAULT_PRESET`) or as given."""
    if isinstance(preset, Preset):
        return preset
    name = preset or DEFAULT_PRESET
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def select_candidates(
    metrics: MetricsState | dict[str, np.ndarray],
    preset: str | Preset | None = None,
    n_epochs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which sources are variability candidates under a preset.

    Parameters
    ----------
    metrics : MetricsState or dict
        Running state, or a dict with ``sigma_deviation``, ``chi2_nu``,
        ``eta`` (and ``n_epochs`` unless given) arrays.
    preset : str or Preset, optional
        Default :data:`DEFAULT_PRESET`.
    n_epochs : array_like, optional
        Epoch counts, if ``metrics`` is a dict without them.

    Returns
    -------
    is_candidate : numpy.ndarray of bool
    score : numpy.ndarray
        Geometric mean of metric / threshold over the three criteria
        (NaN where undefined).
    """
    chosen = get_preset(preset)
    if isinstance(metrics, MetricsState):
        n_epochs = metrics.n_epochs
        metrics = compute_metrics(metrics)
    elif n_epochs is None:
        n_epochs = metrics["n_epochs"]
    ratios = np.stack(
        [
            np.asarray(metrics["sigma_deviation"], float) / chosen.sigma,
            np.asarray(metrics["chi2_nu"], float) / chosen.chi2_nu,
            np.asarray(metrics["eta"], float) / chosen.eta,
        ]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.exp(np.mean(np.log(np.maximum(ratios, 1e-300)), axis=0))
    score[np.isnan(ratios).any(axis=0)] = np.nan
    selected = np.all(ratios >= 1.0, axis=0) & (np.asarray(n_epochs) >= chosen.min_epochs)
    return selected, score


@dataclass
class Classification:
    """Kind of a candidate's light curve (``"ese"`` or ``"variable"``) and why."""

    kind: str
    details: dict[str, Any] = field(default_factory=dict)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in a boolean array."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


@dataclass(frozen=True)
class ESEOptions:
    """Thresholds of the ESE classification (module notes; times in days).

    Attributes
    ----------
    min_duration_days, max_duration_days : float
        Allowed duration of the dip, days (default 7 and 365).
    min_dip_epochs : int
        Fewest low epochs in the dip (default 2).
    dip_sigma : float
        An epoch is low (high) below (above) the level by this many of its
        errors (default 2); a dip's summed deviation and a caustic pass twice it.
    merge_gap_epochs : int
        Low runs split by at most this many epochs, none of them high, are
        one dip (default 1).
    max_asymmetry : float
        Largest ``|egress - ingress| / duration`` (default 0.25), ingress
        and egress being the times from the dip's edges to its half-depth
        points (0 for a symmetric dip, 0.5 for a sudden drop with a linear
        recovery).
    caustic_fraction : float
        A caustic lies within this many durations of the dip's edges
        (default 0.5).
    epoch_days : float
        Measurements within this span of an epoch's first one join it
        (default :data:`~dsa110_contimg.variability.metrics.EPOCH_DAYS`,
        0.5: the sightings of one transit; the rule is
        :func:`~dsa110_contimg.variability.metrics.transit_epochs`, the
        metrics' own).
    """

    min_duration_days: float = 7.0
    max_duration_days: float = 365.0
    min_dip_epochs: int = 2
    dip_sigma: float = 2.0
    merge_gap_epochs: int = 1
    max_asymmetry: float = 0.25
    caustic_fraction: float = 0.5
    epoch_days: float = EPOCH_DAYS


DEFAULT_ESE_OPTIONS = ESEOptions()


def _levels(f: np.ndarray, s: np.ndarray, k: float = 3.0) -> list[float]:
    """Candidate quiescent levels: weighted means of sets of mutually consistent epochs.

    Each epoch proposes its flux as the level; the epochs within ``k``
    combined sigma of it are its set. First the largest set (ties to the
    set holding the first epoch, then to the level nearest the median:
    unlike the median, it stays at the quiescent level when an event
    covers half the epochs), then the sets holding the first and the last
    epoch (the level on either side of an event covering most epochs).
    """
    close = np.abs(f[:, None] - f[None, :]) <= k * np.hypot(s[:, None], s[None, :])
    count = close.sum(axis=1)
    nearness = -np.abs(f - np.median(f))
    centre = np.lexsort((nearness, close[:, 0], count))[-1]
    sets: list[np.ndarray] = []
    for members in (close[centre], close[0], close[-1]):
        if not any(np.array_equal(members, other) for other in sets):
            sets.append(members)
    return [float(np.sum(f[m] / s[m] ** 2) / np.sum(1.0 / s[m] ** 2)) for m in sets]


def _dips(z: np.ndarray, opt: ESEOptions) -> list[tuple[int, int]]:
    """Significant dips: runs of low epochs merged across short gaps with no high epoch."""
    low, high = z < -opt.dip_sigma, z > 2 * opt.dip_sigma
    merged: list[tuple[int, int]] = []
    for a, b in _runs(low):
        if (
            merged
            and a - merged[-1][1] <= opt.merge_gap_epochs
            and not high[merged[-1][1] : a].any()
        ):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [
        (a, b)
        for a, b in merged
        if low[a:b].sum() >= opt.min_dip_epochs
        and z[a:b].sum() / np.sqrt(b - a) < -2 * opt.dip_sigma
    ]


def _half_depth_times(
    t: np.ndarray, deficit: np.ndarray, t_start: float, t_end: float
) -> tuple[float, float, float]:
    """When the deficit first reaches half the peak, from each edge; and the dip's depth.

    The peak is the second largest deficit (one noisy epoch does not set
    it); times are interpolated linearly between epochs, the deficit being 0
    at the edges. The depth is the median deficit of the epochs at or above
    half the peak (the dip's floor: the largest one is biased by noise).
    """
    half = 0.5 * (np.sort(deficit)[-2] if deficit.size > 1 else deficit[0])
    tt, dd = np.r_[t_start, t, t_end], np.r_[0.0, deficit, 0.0]

    def crossing(times: np.ndarray, values: np.ndarray) -> float:
        k = int(np.argmax(values >= half))
        return float(np.interp(half, values[k - 1 : k + 1], times[k - 1 : k + 1]))

    return (
        crossing(tt, dd),
        crossing(tt[::-1], dd[::-1]),
        float(np.median(deficit[deficit >= half])),
    )


def _dip_shape(
    t: np.ndarray, f: np.ndarray, s: np.ndarray, base: float, opt: ESEOptions
) -> tuple[str, dict[str, Any]]:
    """Why the light curve is not an ESE about the level ``base`` ('' if it is one), and the dip."""
    z = (f - base) / s
    dips = _dips(z, opt)
    details: dict[str, Any] = {"baseline_flux_jy": base, "n_dips": len(dips)}
    if len(dips) != 1:
        return ("no dip" if not dips else "several dips"), details
    start, stop = dips[0]
    if start == 0 or stop == f.size:
        details.update(dip_epochs=int(stop - start))
        return "dip not seen to begin and end", details
    t_start, t_end = 0.5 * (t[start - 1] + t[start]), 0.5 * (t[stop - 1] + t[stop])
    duration = t_end - t_start
    deficit = base - f[start:stop]
    t_in, t_out, depth = _half_depth_times(t[start:stop], deficit, t_start, t_end)
    asymmetry = ((t_end - t_out) - (t_in - t_start)) / duration
    high = np.flatnonzero(z > 2 * opt.dip_sigma)
    reach = opt.caustic_fraction * duration
    near = (
        (high == start - 1)
        | (high == stop)
        | ((t[high] >= t_start - reach) & (t[high] <= t_end + reach))
    )
    details.update(
        dip_start_mjd=float(t[start]),
        dip_end_mjd=float(t[stop - 1]),
        dip_epochs=int(stop - start),
        dip_duration_days=float(duration),
        dip_depth=float(depth / base) if base > 0 else float("nan"),
        dip_asymmetry=float(asymmetry),
        caustic_before=bool(np.any(t[high] < t_start) and np.all(near)),
        caustic_after=bool(np.any(t[high] > t_end) and np.all(near)),
    )
    if not opt.min_duration_days <= duration <= opt.max_duration_days:
        return "duration out of range", details
    if abs(asymmetry) > opt.max_asymmetry:
        return "asymmetric", details
    if not np.all(near):
        return "brightening away from the dip", details
    return "", details


def classify_light_curve(
    mjd: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    *,
    options: ESEOptions = DEFAULT_ESE_OPTIONS,
    frac_floor: float = 0.0,
) -> Classification:
    """Classify a candidate's light curve as an ESE or a generic variable.

    Measurements closer in time than ``options.epoch_days`` form one epoch
    (the groups of one transit see a source two or three times within
    minutes; an ESE lasts weeks): their weighted mean, with the thermal
    errors combined and then the systematic floor added, so that three
    sightings of a day count as one epoch, not as a run of three. The rules
    are in the module notes.

    Parameters
    ----------
    mjd, flux_jy, flux_err_jy : array_like
        The light curve (any order), MJD, Jy and thermal errors (Jy).
    options : ESEOptions
        Thresholds (default :data:`DEFAULT_ESE_OPTIONS`).
    frac_floor : float
        Fractional systematic error added in quadrature to each epoch's
        error (:func:`~dsa110_contimg.variability.metrics.with_floor`).

    Returns
    -------
    Classification
        ``details`` holds the epochs, the quiescent level, the dip (if one)
        and ``ese_reason``: why it is not an ESE (empty for an ESE).
    """
    _, t, f, s = transit_epochs(
        np.zeros(np.size(mjd), np.int64), mjd, flux_jy, flux_err_jy, options.epoch_days
    )
    s = with_floor(f, s, frac_floor)
    first: tuple[str, dict[str, Any]] | None = None
    for base in _levels(f, s):
        reason, details = _dip_shape(t, f, s, base, options)
        if not reason:
            return Classification("ese", {**details, "epochs": int(f.size), "ese_reason": ""})
        first = first or (reason, details)
    reason, details = first
    return Classification("variable", {**details, "epochs": int(f.size), "ese_reason": reason})


@dataclass
class CandidateRecord:
    """What the pipeline stores as a ``Candidate`` row (plus the source's index).

    Attributes
    ----------
    index : int
        Row of the metrics state (the caller maps it to a source id).
    kind : str
        ``"ese"`` or ``"variable"`` (``CandidateKind`` values).
    score : float
        Geometric mean of metric / threshold (>= 1).
    preset : str
        Name of the preset that selected it.
    details : dict
        The metrics and the classification's details (JSON-serialisable).
    """

    index: int
    kind: str
    score: float
    preset: str
    details: dict[str, Any]


def evaluate_candidates(
    state: MetricsState,
    light_curve: Any,
    preset: str | Preset | None = None,
    ese_options: ESEOptions | None = None,
) -> list[CandidateRecord]:
    """Select candidates and classify each from its light curve.

    Parameters
    ----------
    state : MetricsState
        Running state of the sources (built with the preset's ``frac_floor``).
    light_curve : callable
        ``light_curve(index) -> (mjd, flux_jy, flux_err_jy)`` for one source
        (normalised fluxes, thermal errors: the floor is added per epoch); called
        for the selected sources only.
    preset : str or Preset, optional
        Default :data:`DEFAULT_PRESET`.
    ese_options : ESEOptions, optional
        ESE thresholds (default the preset's, ``Preset.ese``, else
        :data:`DEFAULT_ESE_OPTIONS`).

    Returns
    -------
    list of CandidateRecord
        Highest score first.
    """
    chosen = get_preset(preset)
    ese_options = ese_options or chosen.ese or DEFAULT_ESE_OPTIONS
    metrics = compute_metrics(state)
    selected, score = select_candidates(state, chosen)
    records = []
    for i in np.flatnonzero(selected):
        mjd, flux, err = light_curve(int(i))
        result = classify_light_curve(
            mjd, flux, err, options=ese_options, frac_floor=chosen.frac_floor
        )
        details = {name: _json_float(values[i]) for name, values in metrics.items()}
        details["n_epochs"] = int(state.n_epochs[i])
        details.update(result.details)
        records.append(CandidateRecord(int(i), result.kind, float(score[i]), chosen.name, details))
    return sorted(records, key=lambda r: -r.score)


def _json_float(value: float) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value
