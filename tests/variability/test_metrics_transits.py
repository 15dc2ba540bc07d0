"""One epoch per transit: sightings of one transit combined before eta and chi2."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.variability.candidates import classify_light_curve
from dsa110_contimg.variability.metrics import (
    MetricsState,
    compute_metrics,
    metrics_from_history,
    transit_epochs,
    update_batch,
)

N_TRANSITS, SIGHTINGS, FLOOR = 40, 3, 0.015


def _sightings(rng: np.random.Generator, n_sources: int):
    """Daily transits seen 2-3 times 5 minutes apart; a calibration error shared by a transit."""
    day = 61000.0 + np.arange(N_TRANSITS) + rng.uniform(-0.02, 0.02, N_TRANSITS)
    t = (day[:, None] + np.arange(SIGHTINGS) * 309.24 / 86400).ravel()
    truth = rng.uniform(0.05, 1.0, n_sources)
    scale = 1 + rng.normal(0, FLOOR, N_TRANSITS).repeat(SIGHTINGS)  # per transit
    err = truth[:, None] / rng.uniform(20, 200, (n_sources, 1)) * np.ones(t.size)
    flux = truth[:, None] * scale + rng.normal(size=err.shape) * err
    return t, flux, err


def test_transit_epochs_greedy_rule() -> None:
    """A measurement joins its epoch when within epoch_days of the epoch's *first* one."""
    t = np.array([0.0, 0.2, 0.45, 0.55, 0.9, 2.0, 0.1])
    src = np.array([0, 0, 0, 0, 0, 0, 1])
    f = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    s = np.array([1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    idx, te, fe, se = transit_epochs(src[::-1], t[::-1], f[::-1], s[::-1], 0.5)  # any order
    assert idx.tolist() == [0, 0, 0, 1]
    w = np.array([1.0, 1.0, 0.25])
    assert fe == pytest.approx([np.sum(w * f[:3]) / w.sum(), 4.5, 6.0, 7.0], rel=1e-12)
    assert te == pytest.approx([np.sum(w * t[:3]) / w.sum(), 0.725, 2.0, 0.1], rel=1e-12)
    assert se == pytest.approx([1 / np.sqrt(w.sum()), 1 / np.sqrt(2), 1.0, 1.0], rel=1e-12)


def test_the_classifier_uses_the_same_epochs() -> None:
    """classify_light_curve counts the epochs of transit_epochs (one definition)."""
    rng = np.random.default_rng(1)
    t, flux, err = _sightings(rng, 1)
    keep = rng.random(t.size) > 0.2  # missing groups
    _, te, _, _ = transit_epochs(
        np.zeros(keep.sum(), int), t[keep], flux[0, keep], err[0, keep], 0.5
    )
    result = classify_light_curve(t[keep], flux[0, keep], err[0, keep], frac_floor=FLOOR)
    assert result.details["epochs"] == te.size == N_TRANSITS


def test_update_batch_counts_one_epoch_per_transit() -> None:
    """Before: 3 epochs a transit, each sharing its transit's scale error; after: one."""
    rng = np.random.default_rng(2)
    n_src = 500
    t, flux, err = _sightings(rng, n_src)
    idx = np.repeat(np.arange(n_src), t.size)
    times = np.tile(t, n_src)
    per_sighting, per_transit = MetricsState.empty(n_src), MetricsState.empty(n_src)
    update_batch(per_sighting, idx, flux.ravel(), err.ravel(), times, FLOOR)
    update_batch(per_transit, idx, flux.ravel(), err.ravel(), times, FLOOR, epoch_days=0.5)
    assert np.all(per_sighting.n_epochs == N_TRANSITS * SIGHTINGS)
    assert np.all(per_transit.n_epochs == N_TRANSITS)
    before, after = compute_metrics(per_sighting), compute_metrics(per_transit)
    # against the combined light curve computed from scratch
    _, _, f0, s0 = transit_epochs(np.zeros(t.size, int), t, flux[0], err[0], 0.5)
    ref = metrics_from_history(f0, s0, FLOOR)
    assert after["eta"][0] == pytest.approx(ref["eta"], rel=1e-9)
    assert after["chi2_nu"][0] == pytest.approx(ref["chi2_nu"], rel=1e-9)
    print(
        f"epochs {N_TRANSITS * SIGHTINGS} -> {N_TRANSITS}; median eta {np.median(before['eta']):.3f}"
        f" -> {np.median(after['eta']):.3f}, vs_max {np.median(before['vs_max']):.2f}"
        f" -> {np.median(after['vs_max']):.2f}"
    )
