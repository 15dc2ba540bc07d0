"""Variability metric updates: 10^6 measurements, and the steady-source false-positive rate.

Prints the time of one vectorised batch update of 10^6 measurements (10^5
sources x 10 epochs) plus metric and candidate evaluation, the per-measurement
cost of the one-at-a-time ``update_record`` path, and the fraction of
simulated steady light curves (Gaussian errors, SNR 10-300) that
each preset flags, for 4 to 40 epochs.

Run: ``.venv/bin/python benchmarks/variability.py``
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np

from dsa110_contimg.variability import (
    DEFAULT_PRESET,
    METRIC_FIELDS,
    PRESETS,
    MetricsState,
    compute_metrics,
    select_candidates,
    update_batch,
    update_record,
)


def batch_update(rng: np.random.Generator, n_sources: int, n_epochs: int) -> None:
    n = n_sources * n_epochs
    idx = rng.integers(0, n_sources, n)
    truth = rng.uniform(0.01, 1, n_sources)
    err = truth[idx] / 50
    flux = truth[idx] + rng.normal(size=n) * err
    mjd = 60000 + rng.uniform(0, 100, n)
    state = MetricsState.empty(n_sources)
    start = time.perf_counter()
    update_batch(state, idx, flux, err, mjd)
    t_update = time.perf_counter() - start
    compute_metrics(state)
    select_candidates(state)
    t_all = time.perf_counter() - start
    print(
        f"batch: {n:,} measurements of {n_sources:,} sources: update {t_update:.2f} s, "
        f"with metrics and candidate selection {t_all:.2f} s ({n / t_all:,.0f} measurements/s)"
    )


def single_updates(rng: np.random.Generator, n: int) -> None:
    names = list(MetricsState.__dataclass_fields__) + list(METRIC_FIELDS)
    row = SimpleNamespace(**dict.fromkeys(names))
    flux = 1 + rng.normal(0, 0.02, n)
    start = time.perf_counter()
    for i in range(n):
        update_record(row, flux[i], 0.02, 60000.0 + i)
    elapsed = time.perf_counter() - start
    print(f"one at a time (update_record): {elapsed / n * 1e6:.0f} us per measurement")


def false_positives(rng: np.random.Generator, n_curves: int, n_epochs: int = 40) -> None:
    truth = rng.uniform(0.01, 1, n_curves)
    err = (truth / rng.uniform(10, 300, n_curves))[:, None] * rng.uniform(
        0.9, 1.1, (n_curves, n_epochs)
    )
    flux = truth[:, None] + rng.normal(size=err.shape) * err
    state = MetricsState.empty(n_curves)
    update_batch(
        state,
        np.repeat(np.arange(n_curves), n_epochs),
        flux.ravel(),
        err.ravel(),
        np.tile(np.arange(n_epochs, dtype=float), n_curves),
    )
    rates = []
    for name in PRESETS:
        flagged = int(select_candidates(state, name)[0].sum())
        rates.append(
            f"{name} {flagged}" + (" (<1.5e-5)" if flagged == 0 else f" ({flagged / n_curves:.1e})")
        )
    print(f"  {n_epochs:2d} epochs: " + ", ".join(rates))


def main() -> None:
    rng = np.random.default_rng(0)
    batch_update(rng, 100_000, 10)
    single_updates(rng, 20_000)
    print(f"false positives among 200,000 steady light curves (default: {DEFAULT_PRESET}):")
    for n_epochs in (4, 6, 10, 20, 40):
        false_positives(rng, 200_000, n_epochs)


if __name__ == "__main__":
    main()
