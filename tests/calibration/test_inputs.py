"""What the solver does with inputs a real correlator or converter can produce.

Each test edits a real Measurement Set (the synthetic calibrator MS, python-
casacore tables) the way such an input would look, and solves on it.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from casacore.tables import table

from dsa110_contimg.calibration.msio import read_info
from dsa110_contimg.calibration.records import caltable_records
from dsa110_contimg.calibration.solve import SolveParams, solve_ms
from dsa110_contimg.errors import InputDataError

SMALL = SolveParams(uvmin_lambda=0.0)


def test_rows_stored_as_ant2_ant1_are_conjugated_not_dropped(cal_ms):
    """Half the baselines stored as (j, i): the same solutions as the sorted MS.

    Dropping those rows (as before) loses half the data: the solutions then
    differ by the noise (~1e-3) and antennas may lose their solution.
    """
    ms, _ = cal_ms
    sorted_sol = solve_ms(ms, SMALL)
    rng = np.random.default_rng(3)
    with table(str(ms), readonly=False, ack=False) as tb:
        a1, a2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
        swap = (a1 != a2) & (rng.random(a1.size) < 0.5)
        tb.putcol("ANTENNA1", np.where(swap, a2, a1))
        tb.putcol("ANTENNA2", np.where(swap, a1, a2))
        uvw = tb.getcol("UVW")
        uvw[swap] *= -1
        tb.putcol("UVW", uvw)
        for col in ("DATA", "MODEL_DATA"):
            vis = tb.getcol(col)
            vis[swap] = np.conj(vis[swap])
            tb.putcol(col, vis)
    assert swap.sum() > 0.4 * (a1 != a2).sum()
    swapped_sol = solve_ms(ms, SMALL)
    for kind in ("bandpass", "gain"):
        a, b = getattr(sorted_sol, kind), getattr(swapped_sol, kind)
        np.testing.assert_array_equal(a.flags, b.flags)
        np.testing.assert_allclose(b.gains, a.gains, rtol=0, atol=1e-6)
    # the model predicted from UVW (catalog/tile path) sees the same rows
    from dsa110_contimg.calibration.model import PointSource

    info = read_info(ms)
    ra, dec = np.degrees(info.phase_dir_rad)
    centre = PointSource("c", float(ra), float(dec), 10.0)
    predicted = solve_ms(ms, SMALL, sources=[centre])
    assert not predicted.bandpass.flags.all(axis=(2, 3)).any()


@pytest.mark.parametrize("codes", [[5, 8], [12, 9], [1, 2]])
def test_unexpected_correlations_are_refused(cal_ms, codes):
    """Circular feeds, a reordered axis or Stokes I, Q: a clear error naming the MS and the types."""
    ms, _ = cal_ms
    with table(str(ms / "POLARIZATION"), readonly=False, ack=False) as pol:
        pol.putcell("CORR_TYPE", 0, np.array(codes, np.int32))
    with pytest.raises(InputDataError) as err:
        solve_ms(ms, SMALL)
    message = str(err.value)
    assert str(ms) in message
    for code in codes:
        assert f"({code})" in message
    assert "XX, YY" in message


def test_linear_correlations_are_accepted(cal_ms):
    ms, _ = cal_ms
    with table(str(ms / "POLARIZATION"), ack=False) as pol:
        assert list(pol.getcell("CORR_TYPE", 0)) == [9, 12]
    assert list(read_info(ms).solve_pols) == [0, 1]


def test_unconverged_solutions_are_flagged_and_reported(cal_ms, caplog):
    """Three channels of pure noise do not converge in 40 iterations: flagged, logged, in QA.

    With ``bandpass_minsnr=0`` the SNR cut keeps them, so before the check
    those channels came out as solutions taken from an unfinished iteration.
    """
    ms, _ = cal_ms
    rng = np.random.default_rng(1)
    with table(str(ms), readonly=False, ack=False) as tb:
        data = tb.getcol("DATA")
        shape = data[:, 20:23].shape
        data[:, 20:23] = 10 * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
        tb.putcol("DATA", data)
    params = SolveParams(uvmin_lambda=0.0, max_iter=40, bandpass_minsnr=0.0, fill_gaps=0)
    with caplog.at_level(logging.WARNING, logger="dsa110_contimg.calibration.solve"):
        sol = solve_ms(ms, params)
    flagged = np.flatnonzero(sol.bandpass.flags[0].all(axis=(0, 2)))
    assert list(flagged) == [20, 21, 22]
    assert not sol.bandpass.flags[0][:, np.r_[0:20, 23:96]].any()
    bad = sol.qa["bandpass_unconverged"]
    assert bad["cells"] == 6 and bad["channels"] == 3 and bad["antenna_solutions"] == 6 * 16
    (record,) = [r for r in caplog.records if "did not converge" in r.getMessage()]
    text = record.getMessage()
    assert str(ms) in text and "3 channels" in text and "96 antenna solutions" in text
    paths = {"bandpass": ms / "x.b", "gain": ms / "x.g"}
    records = caltable_records(sol, paths, read_info(ms), "test")
    assert records[0]["qa_metrics"]["bandpass_unconverged"]["cells"] == 6


def test_four_correlations_solve_on_xx_yy_and_apply_to_all(tmp_path):
    """XX, XY, YX, YY: gains from XX and YY; XY corrected with J_1x conj(J_2y), YX the other way."""
    from dsa110_contimg.calibration import apply_ms, write_solutions
    from dsa110_contimg.calibration.synthetic import make_synthetic_ms

    ms = tmp_path / "four.ms"
    truth = make_synthetic_ms(ms, noise_sigma=0.02, seed=7, cross_hand_jy=0.5)
    assert list(read_info(ms).corr_types) == [9, 10, 11, 12]
    assert list(read_info(ms).solve_pols) == [0, 3]
    sol = solve_ms(ms, SMALL)
    ref = list(sol.bandpass.antennas).index(sol.bandpass.refant)
    total = sol.bandpass.gains[0] * sol.gain.gains[0]
    true = truth.gains * np.conj(truth.gains[ref]) / np.abs(truth.gains[ref])
    assert np.abs(np.abs(total / true) - 1).max() < 0.01
    paths = write_solutions(sol, ms)
    apply_ms(ms, list(paths.values()))
    with table(str(ms), ack=False) as tb:
        corr, model = tb.getcol("CORRECTED_DATA"), tb.getcol("MODEL_DATA")
        cross = tb.getcol("ANTENNA1") != tb.getcol("ANTENNA2")
    # the X-Y phase of the reference antenna is not solvable from XX and YY: the
    # tables refer each feed to its own phase, so XY comes out turned by
    # phi_ref,x - phi_ref,y per channel and YX by the opposite
    xy = np.exp(1j * (np.angle(truth.gains[ref, :, 0]) - np.angle(truth.gains[ref, :, 1])))
    expected = {0: 1.0, 1: xy, 2: np.conj(xy), 3: 1.0}
    for p, turn in expected.items():
        ratio = corr[cross, :, p] / (model[cross, :, p] * turn)
        assert abs(ratio.mean() - 1) < 2e-3, (p, ratio.mean())
