"""Relative flux normalisation: injected per-epoch scale errors are recovered."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.photometry.normalise import (
    apply_correction,
    epoch_corrections,
    reference_baselines,
    select_references,
)

N_REF, N_EPOCH = 20, 60


def _simulate(seed: int):
    rng = np.random.default_rng(seed)
    scale = 1 + rng.normal(0, 0.05, N_EPOCH)  # 5% epoch-to-epoch flux-scale errors
    truth = rng.uniform(0.05, 0.5, N_REF)  # Jy
    err = np.full((N_REF, N_EPOCH), 5e-4)  # SNR 100-1000
    flux = truth[:, None] * scale + rng.normal(size=err.shape) * err
    return rng, scale, truth, flux, err


def test_scale_errors_recovered_below_one_percent() -> None:
    rng, scale, truth, flux, err = _simulate(1)
    flux[3, 30:35] *= 1.8  # a reference flares: must be clipped
    flux[7, 20] = np.nan  # missing measurement
    corr = epoch_corrections(flux, err, reference_baselines(flux))
    assert np.all(corr.n_references >= 3) and np.all(np.isfinite(corr.factor))
    assert np.all(corr.n_references[30:35] <= N_REF - 1)  # the flare was clipped
    # C tracks the scale up to one constant (the baseline epochs' own scale)
    relative = corr.factor / scale
    relative /= np.median(relative)
    assert np.max(np.abs(relative - 1)) < 0.01
    assert np.std(relative) < 0.003


def test_factor_errors_are_honest() -> None:
    pulls = []
    for seed in range(20):
        _, scale, truth, flux, err = _simulate(100 + seed)
        baseline = truth * np.median(scale[:10])  # exact baselines: isolate C's own error
        corr = epoch_corrections(flux, err, baseline)
        pulls.append((corr.factor - scale / np.median(scale[:10])) / corr.factor_err)
    pull = np.concatenate(pulls)
    assert abs(pull.mean()) < 0.1
    assert 0.7 < pull.std() < 1.3


def test_normalised_steady_sources_scatter_like_their_errors() -> None:
    rng, scale, truth, flux, err = _simulate(2)
    corr = epoch_corrections(flux, err, reference_baselines(flux))
    steady = rng.uniform(0.01, 0.05, 200)  # SNR 20-100 science sources
    s_err = np.full((200, N_EPOCH), 5e-4)
    measured = steady[:, None] * scale + rng.normal(size=s_err.shape) * s_err
    raw_ratio = np.std(measured, axis=1) / s_err[:, 0]
    norm, norm_err = apply_correction(measured, s_err, corr.factor, corr.factor_err)
    ratio = np.std(norm, axis=1, ddof=1) / np.mean(norm_err, axis=1)
    assert np.median(raw_ratio) > 2  # the scale errors dominated before
    assert np.median(ratio) < 1.2  # the done-when criterion of issue 7
    assert np.median(ratio) > 0.8


def test_too_few_references() -> None:
    flux = np.array([[1.0, 1.0], [2.0, 2.2]])
    corr = epoch_corrections(flux, np.full_like(flux, 0.01), np.array([1.0, 2.0]))
    assert np.all(np.isnan(corr.factor)) and corr.n_references.tolist() == [2, 2]


def test_single_epoch_and_error_propagation() -> None:
    corr = epoch_corrections(
        np.array([1.1, 2.2, 3.3, 5.0]), np.full(4, 0.01), np.array([1.0, 2.0, 3.0, 3.0])
    )
    assert corr.factor[0] == pytest.approx(1.1) and corr.n_references[0] == 3
    norm, norm_err = apply_correction(2.0, 0.1, 1.25, 0.05)
    assert norm == pytest.approx(1.6)
    assert norm_err == pytest.approx(np.hypot(0.1 / 1.25, 2.0 * 0.05 / 1.25**2))


def test_select_references() -> None:
    sep = np.array([0.1, 0.5, 2.0, 1.0, 1.4, 0.2])
    snr = np.array([60.0, 200.0, 500.0, 40.0, 80.0, 300.0])
    steady = np.array([True, True, True, True, True, False])
    chosen = select_references(sep, snr, steady=steady, max_references=2)
    assert chosen.tolist() == [1, 4]  # 2 too far, 3 too faint, 5 varies
