"""Issue 7's acceptance checks on simulated epochs, through the science modules only.

Twenty epochs of a field: ~150 catalog sources, a flare and an ESE, noise
correlated like the beam, and a 5% per-epoch flux-scale error. Forced
photometry -> reference normalisation -> incremental metrics -> candidates.
"""

from __future__ import annotations

import numpy as np
from photometry_sims import add_sources, correlated_noise, make_wcs

from dsa110_contimg.photometry.beam import Beam
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import forced_photometry
from dsa110_contimg.photometry.normalise import (
    apply_correction,
    epoch_corrections,
    reference_baselines,
    select_references,
)
from dsa110_contimg.variability.candidates import classify_light_curve, select_candidates
from dsa110_contimg.variability.metrics import MetricsState, update_batch

N_PIX, N_EPOCHS, RMS = 500, 20, 1e-3
BEAM = Beam(20 / 3600, 15 / 3600, 30.0)


def test_simulated_epochs_meet_issue_7_criteria() -> None:
    rng = np.random.default_rng(2026)
    wcs = make_wcs(N_PIX)
    n_src = 150
    xy = rng.uniform(15, N_PIX - 15, (n_src, 2))
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    truth = 10 ** rng.uniform(np.log10(3e-3), np.log10(0.5), n_src)  # 3-500 mJy
    flare, ese = 0, 1
    truth[[flare, ese]] = 0.1
    shape = np.ones((n_src, N_EPOCHS))
    shape[flare, 12] = 1.8
    shape[ese, 7:12] = 0.6
    shape[ese, [6, 12]] = 1.25  # caustics
    scale = 1 + rng.normal(0, 0.05, N_EPOCHS)
    mjd = 60000.0 + 3.0 * np.arange(N_EPOCHS)

    flux = np.empty((n_src, N_EPOCHS))
    err = np.empty_like(flux)
    image_truth = truth[:, None] * shape * scale
    for e in range(N_EPOCHS):
        image = correlated_noise((N_PIX, N_PIX), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
        add_sources(image, wcs, BEAM, ra, dec, image_truth[:, e])
        res = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS))
        flux[:, e], err[:, e] = res.flux_jy, res.flux_err_jy
        assert not np.any(res.flags & (PhotFlag.NO_DATA | PhotFlag.BAD_NOISE))

    # 1. forced photometry against the truth in each image
    bright = (image_truth / err) > 20
    ratio = flux[bright] / image_truth[bright]
    pull = (flux - image_truth)[bright] / err[bright]
    assert np.median(np.abs(ratio - 1)) < 0.03
    assert np.mean(np.abs(pull) < 3) >= 0.99

    # 2. normalisation with steady bright references
    snr = np.median(flux / err, axis=1)
    refs = select_references(np.zeros(n_src), snr, steady=shape.std(axis=1) == 0)
    assert len(refs) >= 10
    corr = epoch_corrections(flux[refs], err[refs], reference_baselines(flux[refs]))
    relative = corr.factor / scale
    assert np.max(np.abs(relative / np.median(relative) - 1)) < 0.01
    norm, norm_err = apply_correction(flux, err, corr.factor, corr.factor_err)
    steady = (shape.std(axis=1) == 0) & (snr > 20)
    steady[refs] = False  # judge sources that did not set the scale
    scatter = np.std(norm[steady], axis=1, ddof=1) / np.mean(norm_err[steady], axis=1)
    assert np.median(scatter) < 1.2

    # 3. incremental metrics and the default preset
    state = MetricsState.empty(n_src)
    for e in range(N_EPOCHS):  # one epoch at a time, as images arrive
        update_batch(state, np.arange(n_src), norm[:, e], norm_err[:, e], np.full(n_src, mjd[e]))
    selected, score = select_candidates(state)
    assert selected[flare] and selected[ese]
    assert selected.sum() == 2  # no steady source flagged
    assert classify_light_curve(mjd, norm[ese], norm_err[ese]).kind == "ese"
    assert classify_light_curve(mjd, norm[flare], norm_err[flare]).kind == "variable"
