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
an extreme scattering event is a dip of weeks to months, often bracketed by
brief brightenings (caustics). Epochs are sorted in time and compared, in
units of their errors, with the quiescent level: the weighted mean of the
largest set of epochs consistent (within 3 sigma) with one of them, ties
going to the set holding the first epoch (unlike the median, this stays put
when a flare or dip covers half of a short light curve). The light
curve is an ESE when

* it has exactly one run of >= ``min_dip_epochs`` consecutive epochs more
  than ``dip_sigma`` below the quiescent level, containing at least one
  epoch more than ``2 dip_sigma`` below, and the run covers at most half the
  epochs;
* any epoch more than ``2 dip_sigma`` above the level lies within
  ``caustic_epochs`` epochs of that dip (a caustic), none elsewhere.

Otherwise it is a generic ``variable``. The details record the dip's start,
end, length, depth (fraction of the median) and whether caustics were seen
before and after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsa110_contimg.variability.metrics import MetricsState, compute_metrics, with_floor


@dataclass(frozen=True)
class Preset:
    """Thresholds of a candidate preset (all must be reached) and its error floor.

    ``frac_floor`` is the fractional systematic error added to every error
    in quadrature before the metrics are formed (see the module notes).
    """

    name: str
    sigma: float
    chi2_nu: float
    eta: float
    min_epochs: int = 3
    frac_floor: float = 0.0


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


def _baseline(f: np.ndarray, s: np.ndarray, k: float = 3.0) -> float:
    """Quiescent level: weighted mean of the largest set of mutually consistent epochs.

    Each epoch proposes its flux as the level; the epochs within ``k``
    combined sigma of it are its set. The largest set wins; ties go to the
    set holding the first epoch (the reference period, as for the flux
    normalisation), then to the level nearest the median. Unlike the median
    this stays at the quiescent level when an event covers half the epochs.
    """
    close = np.abs(f[:, None] - f[None, :]) <= k * np.hypot(s[:, None], s[None, :])
    count = close.sum(axis=1)
    has_first = close[:, 0]
    nearness = -np.abs(f - np.median(f))
    centre = np.lexsort((nearness, has_first, count))[-1]
    w = 1.0 / s[close[centre]] ** 2
    return float(np.sum(w * f[close[centre]]) / np.sum(w))


def _epochs(
    mjd: np.ndarray, flux_jy: np.ndarray, flux_err_jy: np.ndarray, epoch_days: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time-ordered epochs: inverse-variance means of measurements within ``epoch_days``."""
    order = np.argsort(mjd, kind="stable")
    t = np.asarray(mjd, float)[order]
    f = np.asarray(flux_jy, float)[order]
    s = np.asarray(flux_err_jy, float)[order]
    starts = [0]
    for i in range(1, t.size):
        if t[i] - t[starts[-1]] >= epoch_days:
            starts.append(i)
    label = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, t.size]))
    w = 1.0 / s**2
    sw = np.bincount(label, w)
    return (
        np.bincount(label, w * t) / sw,
        np.bincount(label, w * f) / sw,
        1.0 / np.sqrt(sw),
    )


def classify_light_curve(
    mjd: np.ndarray,
    flux_jy: np.ndarray,
    flux_err_jy: np.ndarray,
    *,
    min_dip_epochs: int = 2,
    dip_sigma: float = 2.0,
    caustic_epochs: int = 2,
    epoch_days: float = 0.5,
    frac_floor: float = 0.0,
) -> Classification:
    """Classify a candidate's light curve as an ESE or a generic variable.

    Measurements closer in time than ``epoch_days`` form one epoch (the
    groups of one transit see a source two or three times within minutes;
    an ESE lasts weeks): their weighted mean, with the thermal errors
    combined and then the systematic floor added, so that three sightings of
    a day count as one epoch, not as a run of three.

    Parameters
    ----------
    mjd, flux_jy, flux_err_jy : array_like
        The light curve (any order), MJD, Jy and thermal errors (Jy).
    min_dip_epochs : int
        Fewest consecutive low epochs of a dip (default 2, which short
        simulated runs of 4-6 epochs need; raise it with a denser cadence).
    dip_sigma : float
        An epoch is low (high) when below (above) the quiescent level by this
        many of its errors (default 2); the deepest dip epoch and any caustic
        must pass twice that.
    caustic_epochs : int
        How many epochs before or after the dip a brightening may lie and
        count as a caustic (default 2).
    epoch_days : float
        Measurements within this span of an epoch's first one join it.
    frac_floor : float
        Fractional systematic error added in quadrature to each epoch's
        error (:func:`~dsa110_contimg.variability.metrics.with_floor`).

    Returns
    -------
    Classification
    """
    t, f, s = _epochs(mjd, flux_jy, flux_err_jy, epoch_days)
    s = with_floor(f, s, frac_floor)
    base = _baseline(f, s)
    z = (f - base) / s
    dips = [(a, b) for a, b in _runs(z < -dip_sigma) if b - a >= min_dip_epochs]
    details: dict[str, Any] = {"baseline_flux_jy": base, "n_dips": len(dips), "epochs": int(f.size)}
    if len(dips) != 1:
        return Classification("variable", details)
    start, stop = dips[0]
    high = np.flatnonzero(z > 2 * dip_sigma)
    near = (high >= start - caustic_epochs) & (high < stop + caustic_epochs)
    depth = base - f[start:stop].min()
    details.update(
        dip_start_mjd=float(t[start]),
        dip_end_mjd=float(t[stop - 1]),
        dip_epochs=int(stop - start),
        dip_depth=float(depth / base) if base > 0 else float("nan"),
        caustic_before=bool(np.any(high < start) and np.all(near)),
        caustic_after=bool(np.any(high >= stop) and np.all(near)),
    )
    is_ese = (
        z[start:stop].min() < -2 * dip_sigma and (stop - start) <= 0.5 * f.size and np.all(near)
    )
    return Classification("ese" if is_ese else "variable", details)


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

    Returns
    -------
    list of CandidateRecord
        Highest score first.
    """
    chosen = get_preset(preset)
    metrics = compute_metrics(state)
    selected, score = select_candidates(state, chosen)
    records = []
    for i in np.flatnonzero(selected):
        mjd, flux, err = light_curve(int(i))
        result = classify_light_curve(mjd, flux, err, frac_floor=chosen.frac_floor)
        details = {name: _json_float(values[i]) for name, values in metrics.items()}
        details["n_epochs"] = int(state.n_epochs[i])
        details.update(result.details)
        records.append(CandidateRecord(int(i), result.kind, float(score[i]), chosen.name, details))
    return sorted(records, key=lambda r: -r.score)


def _json_float(value: float) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else value
