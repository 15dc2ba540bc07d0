"""The ESE classifier's physical time scale and shape, on the daily cadence.

A source seen by 3 groups a transit (minutes apart), one transit a day with
missed days and a 5-day gap, at SNR 50 per sighting (2% thermal errors) and
1.5% calibration scatter per transit, with the default preset's floor. Each
case is drawn 100 times: an ESE rule that only works on a lucky draw fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.variability.candidates import (
    DEFAULT_ESE_OPTIONS,
    DEFAULT_PRESET,
    PRESETS,
    ESEOptions,
    classify_light_curve,
)

FLOOR = PRESETS[DEFAULT_PRESET].frac_floor
N_DAYS, N_DRAWS = 150, 100
SIGHTINGS_DAYS = np.array([0.0, 0.0036, 0.0072])  # 3 groups of 309 s


def _transits(rng: np.random.Generator) -> np.ndarray:
    """Days with a transit: daily, 10% missed at random, and days 100-104 lost."""
    days = np.arange(float(N_DAYS))
    keep = (rng.random(N_DAYS) > 0.1) & ~((days >= 100) & (days < 105))
    return days[keep]


def _kinds(shape, rng: np.random.Generator, n: int = N_DRAWS) -> tuple[np.ndarray, list]:
    """Classify ``n`` noisy draws of a light-curve shape (a function of the day)."""
    kinds, results = [], []
    for _ in range(n):
        days = _transits(rng)
        scale = 1 + rng.normal(0, 0.015, days.size)  # calibration, one per transit
        level = np.repeat(shape(days) * scale, SIGHTINGS_DAYS.size)
        mjd = (60000.0 + days[:, None] + SIGHTINGS_DAYS).ravel()
        err = np.full(mjd.size, 0.02)
        flux = level + rng.normal(size=mjd.size) * err
        result = classify_light_curve(mjd, flux, err, frac_floor=FLOOR)
        kinds.append(result.kind)
        results.append(result)
    return np.array(kinds), results


def _dip(start: float, days: float, depth: float = 0.2):
    return lambda t: 1.0 - depth * ((t >= start) & (t < start + days))


def test_two_day_dip_is_not_ese() -> None:
    """A 20% dip of 2 days (the old rule called it an ESE): a generic variable."""
    kinds, results = _kinds(_dip(70.0, 2.0), np.random.default_rng(1))
    assert np.all(kinds == "variable")
    dips = [r for r in results if r.details["n_dips"] == 1]
    assert len(dips) > 0.8 * N_DRAWS  # it is seen as a dip, and rejected for its length
    too_short = [r for r in dips if r.details["ese_reason"] == "duration out of range"]
    assert len(too_short) > 0.9 * len(dips)
    # 2-3 days, more when the days next to it were missed
    assert np.median([r.details["dip_duration_days"] for r in dips]) <= 2.5


def test_sixty_day_dip_is_ese() -> None:
    """A 20% dip of 60 days (the old rule called it a variable: over half the epochs)."""
    kinds, results = _kinds(_dip(30.0, 60.0), np.random.default_rng(2))
    assert np.mean(kinds == "ese") >= 0.95
    durations = [r.details["dip_duration_days"] for r in results if r.kind == "ese"]
    assert np.median(durations) == pytest.approx(60.0, abs=1.0)
    depths = [r.details["dip_depth"] for r in results if r.kind == "ese"]
    assert np.median(depths) == pytest.approx(0.2, abs=0.03)


def test_asymmetric_steps_are_not_ese() -> None:
    """A step down that stays, and a sudden 30% drop recovering linearly over 40 days."""
    step = lambda t: 1.0 - 0.2 * (t >= 80.0)  # noqa: E731
    kinds, results = _kinds(step, np.random.default_rng(3))
    assert np.all(kinds == "variable")
    sawtooth = lambda t: 1.0 - 0.3 * np.clip(1 - (t - 50.0) / 40.0, 0, 1) * (t >= 50.0)  # noqa: E731
    kinds, results = _kinds(sawtooth, np.random.default_rng(4))
    assert np.mean(kinds == "variable") >= 0.95
    asym = [r.details["dip_asymmetry"] for r in results if "dip_asymmetry" in r.details]
    assert np.median(asym) > DEFAULT_ESE_OPTIONS.max_asymmetry
    # the same shape reversed in time (slow decline, sudden recovery): asymmetric too
    kinds, results = _kinds(lambda t: sawtooth(140.0 - t), np.random.default_rng(5))
    assert np.mean(kinds == "variable") >= 0.95


def test_dip_with_edge_brightenings_is_ese() -> None:
    """A 30-day 30% dip with 25% caustic spikes of a few days at both edges."""

    def shape(t):
        caustics = sum(np.exp(-0.5 * ((t - edge) / 1.5) ** 2) for edge in (55.0, 85.0))
        return _dip(55.0, 30.0, 0.3)(t) + 0.25 * caustics

    kinds, results = _kinds(shape, np.random.default_rng(6))
    assert np.mean(kinds == "ese") >= 0.95
    ese = [r for r in results if r.kind == "ese"]
    assert np.mean([r.details["caustic_before"] and r.details["caustic_after"] for r in ese]) > 0.9
    # a brightening far from the dip is not a caustic
    far = lambda t: shape(t) + 0.4 * (np.abs(t - 10.0) < 2.0)  # noqa: E731
    kinds, results = _kinds(far, np.random.default_rng(7), 30)
    assert np.all(kinds == "variable")
    assert {r.details["ese_reason"] for r in results} == {"brightening away from the dip"}


def test_options_are_the_thresholds() -> None:
    """The typed options decide: a 5-day dip is an ESE once the floor is 3 days."""
    rng = np.random.default_rng(8)
    days = np.arange(60.0)
    flux = _dip(30.0, 5.0, 0.4)(days) + rng.normal(0, 0.01, days.size)
    err = np.full(days.size, 0.01)
    assert classify_light_curve(60000 + days, flux, err).kind == "variable"
    short = ESEOptions(min_duration_days=3.0)
    result = classify_light_curve(60000 + days, flux, err, options=short)
    assert result.kind == "ese" and result.details["dip_duration_days"] == pytest.approx(5.0)
    longest = ESEOptions(max_duration_days=4.0, min_duration_days=1.0)
    assert classify_light_curve(60000 + days, flux, err, options=longest).kind == "variable"
