"""Variability metric updates: 10^6 measurements, and the steady-source false-positive rate.

Prints the time of one vectorised batch update of 10^6 measurements (10^5
sources x 10 epochs) plus metric and candidate evaluation, the per-measurement
cost of the one-at-a-time ``update_record`` path, and the fraction of
simulated steady light curves (Gaussian errors, SNR 10-300) that
each preset flags, for 4 to 40 epochs, without and with the preset's
systematic error floor; then the same with 1% and 2% calibration scatter
per epoch (SNR 10-3000), which the errors do not contain.

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


def false_positives(
    rng: np.random.Generator,
    n_curves: int,
    n_epochs: int = 40,
    scatter: float = 0.0,
    snr: tuple[float, float] = (10, 300),
) -> None:
    """Fraction of steady light curves each preset flags (with its own error floor).

    ``scatter``: a fractional flux-scale error per epoch and source (the
    calibration's), which the errors given to the metrics do not contain.
    """
    truth = rng.uniform(0.01, 1, n_curves)
    err = (truth / rng.uniform(*snr, n_curves))[:, None] * rng.uniform(
        0.9, 1.1, (n_curves, n_epochs)
    )
    flux = truth[:, None] * (1 + scatter * rng.normal(size=err.shape))
    flux += rng.normal(size=err.shape) * err
    rates = []
    for name, preset in PRESETS.items():
        for floor in (0.0, preset.frac_floor):
            state = MetricsState.empty(n_curves)
            update_batch(
                state,
                np.repeat(np.arange(n_curves), n_epochs),
                flux.ravel(),
                err.ravel(),
                np.tile(np.arange(n_epochs, dtype=float), n_curves),
                floor,
            )
            flagged = int(select_candidates(state, name)[0].sum())
            rate = f"<{1.5 / n_curves:.0e}" if flagged == 0 else f"{flagged / n_curves:.1e}"
            rates.append(f"{name}{' +floor' if floor else ''} {rate}")
    print(f"  {n_epochs:2d} epochs: " + ", ".join(rates))


def main() -> None:
    rng = np.random.default_rng(0)
    batch_update(rng, 100_000, 10)
    single_updates(rng, 20_000)
    print(f"false positives among 100,000 steady light curves (default: {DEFAULT_PRESET}):")
    print(" thermal errors only, SNR 10-300 (without / with each preset's error floor):")
    for n_epochs in (4, 6, 10, 20, 40):
        false_positives(rng, 100_000, n_epochs)
    for scatter in (0.01, 0.02):
        print(f" plus {scatter:.0%} calibration scatter per epoch, SNR 10-3000:")
        for n_epochs in (4, 10, 40):
            false_positives(rng, 100_000, n_epochs, scatter, snr=(10, 3000))


if __name__ == "__main__":
    main()
