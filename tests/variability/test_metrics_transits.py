"""One epoch per transit: sightings of one transit combined before eta and chi2."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.variability.candidates import _epochs
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


def test_same_rule_as_the_classifier_epochs() -> None:
    rng = np.random.default_rng(1)
    t, flux, err = _sightings(rng, 1)
    keep = rng.random(t.size) > 0.2  # missing groups
    idx, te, fe, se = transit_epochs(
        np.zeros(keep.sum(), int), t[keep], flux[0, keep], err[0, keep], 0.5
    )
    ref = _epochs(t[keep], flux[0, keep], err[0, keep], 0.5)
    assert te == pytest.approx(ref[0], rel=1e-12)
    assert fe == pytest.approx(ref[1], rel=1e-12)
    assert se == pytest.approx(ref[2], rel=1e-12)
    assert idx.tolist() == [0] * te.size


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
