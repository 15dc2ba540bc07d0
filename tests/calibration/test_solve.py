"""The calibrator solve recovers known gains (relative to the reference antenna)."""

from __future__ import annotations

import numpy as np
import pytest
from casacore.tables import table

from dsa110_contimg.calibration.solutions import normalise_bandpass
from dsa110_contimg.calibration.solve import SolveParams, solve_ms
from dsa110_contimg.calibration.stefcal import stefcal

SMALL = SolveParams(uvmin_lambda=0.0)  # the 16-antenna test array is too compact for 1000 lambda


def _relative_error(sol, truth):
    """Amplitude (fraction) and phase (deg) errors of B x G against the truth."""
    total = sol.bandpass.gains[0] * sol.gain.gains[0]  # (Na, Nchan, Npol)
    flags = sol.bandpass.flags[0] | sol.gain.flags[0]
    ref = list(sol.bandpass.antennas).index(sol.bandpass.refant)
    true = truth.gains * np.conj(truth.gains[ref]) / np.abs(truth.gains[ref])
    ratio = np.where(flags, 1, total / true)
    return np.abs(np.abs(ratio) - 1), np.degrees(np.abs(np.angle(ratio))), flags


def test_stefcal_exact_on_noiseless_sums():
    rng = np.random.default_rng(0)
    na, nb = 12, 5
    g = rng.uniform(0.5, 1.5, (nb, na)) * np.exp(1j * rng.uniform(-np.pi, np.pi, (nb, na)))
    model = rng.uniform(1, 3, (nb, na, na))
    model = model + np.swapaxes(model, 1, 2)
    vis = g[:, :, None] * np.conj(g[:, None, :]) * model
    eye = np.eye(na, dtype=bool)
    x = np.where(eye, 0, vis * model)
    y = np.where(eye, 0, model**2)
    res = stefcal(x, y, min_baselines=4, tol=1e-14, max_iter=500)
    rot = np.conj(res.gains[:, :1]) / np.abs(res.gains[:, :1])
    rot_true = np.conj(g[:, :1]) / np.abs(g[:, :1])
    np.testing.assert_allclose(res.gains * rot, g * rot_true, rtol=1e-6)


def test_recovers_bandpass_and_gains(cal_ms):
    ms, truth = cal_ms
    sol = solve_ms(ms, SMALL)
    amp, phase, flags = _relative_error(sol, truth)
    assert not flags.any()
    assert amp.max() < 0.01  # 1 % in amplitude
    assert phase.max() < 1.0  # 1 deg in phase
    assert sol.refant_pad == 103
    assert sol.qa["bandpass_median_snr"] > 50
    # solnorm: mean amplitude 1 and mean phase 0 per antenna and pol
    b = sol.bandpass.gains[0]
    np.testing.assert_allclose(np.abs(b).mean(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.angle((b / np.abs(b)).sum(axis=1)), 0.0, atol=1e-6)


def test_flagged_channels_dead_antenna_and_refant_fallback(cal_ms):
    ms, truth = cal_ms
    with table(str(ms), readonly=False, ack=False) as tb:
        flag = tb.getcol("FLAG")
        a1, a2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
        flag[:, 10:12] = True  # a 2-channel gap: filled
        flag[:, 40:45] = True  # a 5-channel gap: stays flagged
        dead = (a1 == 102) | (a2 == 102)  # pad 103, the first reference choice
        flag[dead] = True
        flag[(a1 == 4) | (a2 == 4), 60:70] = True  # pad 5 loses 10 channels
        tb.putcol("FLAG", flag)
    sol = solve_ms(ms, SMALL)
    assert sol.refant_pad == 104
    ants = list(sol.bandpass.antennas)
    bf = sol.bandpass.flags[0]
    assert bf[ants.index(102)].all() and sol.gain.flags[0, ants.index(102)].all()
    assert not bf[:, 10:12][np.arange(len(ants)) != ants.index(102)].any()
    assert bf[:, 40:45].all()
    assert bf[ants.index(4), 60:70].all()
    amp, phase, flags = _relative_error(sol, truth)
    good = ~flags
    good[:, 10:12] = False  # interpolated channels follow the truth only approximately
    assert amp[good].max() < 0.01 and phase[good].max() < 1.0
    assert sol.qa["antennas_without_solution"] == 1


def test_presolve_removes_phase_drift(cal_ms):
    ms, truth = cal_ms
    # a per-antenna phase ramp in time: without the 60 s pre-solve the bandpass decorrelates
    with table(str(ms), readonly=False, ack=False) as tb:
        t, a1, a2 = tb.getcol("TIME"), tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
        data = tb.getcol("DATA")
        rate = np.linspace(-0.02, 0.02, 110)  # rad/s per antenna id
        phase = np.exp(1j * (rate[a1] - rate[a2]) * (t - t.mean()))
        tb.putcol("DATA", (data * phase[:, None, None]).astype(np.complex64))
    sol = solve_ms(ms, SolveParams(uvmin_lambda=0.0, presolve_solint_s=12.0))
    assert sol.qa["presolve_phase_scatter_deg"] > 5
    # the bandpass keeps the true spectral shape: compare both normalised the same way
    ref = list(sol.bandpass.antennas).index(sol.bandpass.refant)
    true = truth.gains * np.conj(truth.gains[ref]) / np.abs(truth.gains[ref])
    true_b = np.swapaxes(
        normalise_bandpass(np.swapaxes(true, 1, 2), np.zeros(true.shape, bool).swapaxes(1, 2)), 1, 2
    )
    ratio = sol.bandpass.gains[0] / true_b
    assert np.abs(np.abs(ratio) - 1).max() < 0.01
    assert np.degrees(np.abs(np.angle(ratio))).max() < 1.0


def test_gain_only_solve_with_fixed_bandpass(cal_ms):
    from dsa110_contimg.calibration.caltable import write_caltable

    ms, truth = cal_ms
    sol = solve_ms(ms, SMALL)
    bpath = write_caltable(sol.bandpass, ms)
    with table(str(ms), readonly=False, ack=False) as tb:  # every |g|^2 grows by 3x
        tb.putcol("DATA", tb.getcol("DATA") * np.float32(3))
    tile = solve_ms(ms, SMALL, bandpass_table=bpath)
    np.testing.assert_allclose(tile.bandpass.gains, sol.bandpass.gains, rtol=1e-6, atol=1e-7)
    ratio = tile.gain.gains[0] / sol.gain.gains[0]
    np.testing.assert_allclose(np.abs(ratio), np.sqrt(3), rtol=1e-3)
    assert np.degrees(np.abs(np.angle(ratio))).max() < 0.05


def test_binned_gain_solve_equals_the_full_resolution_one(cal_ms):
    """Gains against a fixed bandpass from 8-channel bins: the per-channel solution, to the noise."""
    from dsa110_contimg.calibration.caltable import write_caltable
    from dsa110_contimg.calibration.model import PointSource
    from dsa110_contimg.calibration.msio import read_info

    ms, _ = cal_ms
    info = read_info(ms)
    centre = PointSource("cal", *np.degrees(info.phase_dir_rad), 10.0)
    bpath = write_caltable(solve_ms(ms, SMALL).bandpass, ms)
    full = solve_ms(ms, SMALL, bandpass_table=bpath, sources=[centre], predict="reference")
    binned = solve_ms(ms, SMALL, bandpass_table=bpath, sources=[centre], chan_bin=8)
    assert binned.gain.meta["chan_bin"] == 8 and "chan_bin" not in full.gain.meta
    np.testing.assert_array_equal(binned.bandpass.gains, full.bandpass.gains)
    np.testing.assert_array_equal(binned.gain.flags, full.gain.flags)
    ok = ~full.gain.flags
    ratio = binned.gain.gains[ok] / full.gain.gains[ok]
    assert np.abs(np.abs(ratio) - 1).max() < 2e-3
    assert np.degrees(np.abs(np.angle(ratio))).max() < 0.1
    assert binned.gain.freqs_hz[0] == pytest.approx(full.gain.freqs_hz[0])
    assert binned.qa["gain_median_snr"] == pytest.approx(full.qa["gain_median_snr"], rel=0.2)


def test_model_on_the_fly_equals_model_column(cal_ms):
    from dsa110_contimg.calibration.model import PointSource
    from dsa110_contimg.calibration.msio import read_info

    ms, _ = cal_ms
    info = read_info(ms)
    ra, dec = np.degrees(info.phase_dir_rad)
    centre = PointSource("cal", ra, dec, 10.0)  # what MODEL_DATA of the fixture holds
    a = solve_ms(ms, SMALL)
    b = solve_ms(ms, SMALL, sources=[centre])
    np.testing.assert_allclose(b.bandpass.gains, a.bandpass.gains, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.gain.gains, a.gain.gains, rtol=1e-5, atol=1e-6)


def test_uv_cut_per_channel_or_per_row() -> None:
    """The cut converts each channel with its own frequency, or whole rows with one."""
    from dsa110_contimg.calibration.accumulate import CellSums
    from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S

    freqs = np.array([1.3e9, 1.4e9, 1.5e9])
    cut = 1000.0
    # a baseline longer than 1000 wavelengths only above 1.4 GHz, and one always longer
    uv_m = np.array([cut * SPEED_OF_LIGHT_M_S / 1.45e9, cut * SPEED_OF_LIGHT_M_S / 1.2e9])
    shape = (2, 3, 1)
    ones = np.ones(shape, np.complex64)

    def counts(cut_freqs: np.ndarray) -> np.ndarray:
        sums = CellSums(1, 2, 3, 1)
        sums.add(
            np.array([0, 1]),
            np.zeros(2, int),
            ones,
            ones,
            np.zeros(shape, bool),
            np.ones((2, 1), np.float32),
            uv_m,
            cut_freqs,
            cut,
        )
        return sums.arrays()["n"][0, :, :, 0] > 0

    per_channel = counts(freqs)
    assert per_channel.tolist() == [[False, False, True], [True, True, True]]
    per_row = counts(np.full_like(freqs, freqs.min()))  # CASA's uvrange selection
    assert per_row.tolist() == [[False, False, False], [True, True, True]]
