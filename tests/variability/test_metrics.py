"""Incremental metrics equal batch and from-history recomputation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from variability_sims import N_EPOCHS, flaring, steady

from dsa110_contimg.variability.metrics import (
    METRIC_FIELDS,
    MetricsState,
    compute_metrics,
    metrics_from_history,
    update_batch,
    update_record,
)

REL = 1e-9


def _empty_row() -> SimpleNamespace:
    # like a fresh VariabilityMetrics ORM row before flush: everything None
    names = list(MetricsState.__dataclass_fields__) + list(METRIC_FIELDS)
    return SimpleNamespace(**dict.fromkeys(names))


def test_incremental_batch_and_history_agree() -> None:
    rng = np.random.default_rng(0)
    truth, err, flux = steady(rng, 30, snr=(5.0, 1000.0))
    _, err2, flux2 = flaring(rng, 30)
    flux, err = np.vstack([flux, flux2]), np.vstack([err, err2])
    n_src = len(flux)
    mjd = 60000.0 + 3.0 * np.arange(N_EPOCHS)
    # one at a time, in time order, as the pipeline would
    rows = [_empty_row() for _ in range(n_src)]
    for e in range(N_EPOCHS):
        for i in range(n_src):
            assert update_record(rows[i], flux[i, e], err[i, e], mjd[e])
    # all at once, shuffled, in two batches
    state = MetricsState.empty(n_src)
    idx = np.repeat(np.arange(n_src), N_EPOCHS)
    perm = rng.permutation(idx.size)
    half = idx.size // 2
    for part in (perm[:half], perm[half:]):
        update_batch(
            state, idx[part], flux.ravel()[part], err.ravel()[part], np.tile(mjd, n_src)[part]
        )
    batch = compute_metrics(state)
    for i in range(n_src):
        truth_i = metrics_from_history(flux[i], err[i])
        for name in METRIC_FIELDS:
            assert getattr(rows[i], name) == pytest.approx(truth_i[name], rel=REL), name
            assert batch[name][i] == pytest.approx(truth_i[name], rel=REL), name
        assert rows[i].n_epochs == state.n_epochs[i] == N_EPOCHS
        assert rows[i].first_mjd == state.first_mjd[i] == mjd[0]
        assert rows[i].last_mjd == state.last_mjd[i] == mjd[-1]


def test_definitions_on_a_small_example() -> None:
    f = np.array([1.0, 1.2, 0.9, 1.1])
    s = np.array([0.1, 0.1, 0.05, 0.2])
    m = metrics_from_history(f, s)
    w = 1 / s**2
    n = 4
    vast_eta = n / (n - 1) * (np.mean(w * f**2) - np.mean(w * f) ** 2 / np.mean(w))
    assert m["eta"] == pytest.approx(vast_eta)
    assert m["v"] == pytest.approx(np.std(f, ddof=1) / np.mean(f))
    assert m["m2_max"] == pytest.approx(2 * 0.3 / 2.1)
    assert m["vs_max"] == pytest.approx(0.3 / np.hypot(0.1, 0.05))
    assert m["chi2_nu"] >= m["eta"]
    # the extreme pair is a lower bound of the all-pairs maximum, exact for m2
    assert m["vs_max"] <= m["all_pairs_vs_max"] + 1e-12
    assert m["m2_max"] == pytest.approx(m["all_pairs_m2_max"])


def test_vs_exact_with_equal_errors() -> None:
    rng = np.random.default_rng(3)
    f = rng.normal(1, 0.1, 30)
    m = metrics_from_history(f, np.full(30, 0.05))
    assert m["vs_max"] == pytest.approx(m["all_pairs_vs_max"])


def test_bad_measurements_skipped_and_single_epoch() -> None:
    row = _empty_row()
    assert not update_record(row, float("nan"), 0.1, 60000.0)
    assert not update_record(row, 1.0, 0.0, 60000.0)
    assert update_record(row, 1.0, 0.1, 60000.0)
    assert row.n_epochs == 1 and row.eta is None and row.weighted_mean_flux_jy == 1.0
