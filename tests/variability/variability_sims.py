"""Simulated light curves: steady, flaring, and extreme scattering events."""

from __future__ import annotations

import numpy as np

N_EPOCHS = 40
CADENCE_DAYS = 3.0


def steady(rng: np.random.Generator, n: int, snr=(10.0, 300.0)):
    """n steady sources: truth (Jy), errors (Jy), fluxes (n, N_EPOCHS) with Gaussian noise."""
    truth = rng.uniform(0.01, 1.0, n)
    err = truth / rng.uniform(*snr, n)
    err = np.repeat(err[:, None], N_EPOCHS, axis=1) * rng.uniform(0.9, 1.1, (n, N_EPOCHS))
    return truth, err, truth[:, None] + rng.normal(size=err.shape) * err


def flaring(rng: np.random.Generator, n: int):
    """Steady at SNR 30 plus a flare of 50-90% (15-27 sigma) lasting 1-3 epochs."""
    truth, err, flux = steady(rng, n, snr=(30.0, 30.0))
    for i in range(n):
        start, length = rng.integers(0, N_EPOCHS - 3), rng.integers(1, 4)
        flux[i, start : start + length] += truth[i] * rng.uniform(0.5, 0.9)
    return truth, err, flux


def ese(rng: np.random.Generator, n: int, caustics: bool = True):
    """Steady at SNR 30 with a 20-50% dip of 4-10 epochs, optionally caustic peaks either side."""
    truth, err, flux = steady(rng, n, snr=(30.0, 30.0))
    for i in range(n):
        length = rng.integers(4, 11)
        start = rng.integers(3, N_EPOCHS - length - 3)
        flux[i, start : start + length] -= truth[i] * rng.uniform(0.2, 0.5)
        if caustics:
            bump = truth[i] * rng.uniform(0.2, 0.4)
            flux[i, start - 1] += bump
            flux[i, start + length] += bump
    return truth, err, flux
