"""Flag, solve, write tables, select and apply on one synthetic calibrator MS."""

from __future__ import annotations

import numpy as np
from casacore.tables import table

from dsa110_contimg.calibration import (
    SolveParams,
    TableCandidate,
    apply_ms,
    caltable_records,
    read_info,
    select_tables,
    solve_ms,
    write_solutions,
)
from dsa110_contimg.calibration.synthetic import make_synthetic_ms
from dsa110_contimg.flagging import flag_ms

SIGMA = 2.6  # Jy per visibility: SEFD 6500 Jy, 244 kHz, 12.9 s


def test_flag_solve_apply_with_thermal_noise_and_rfi(tmp_path):
    ms = tmp_path / "group.ms"
    truth = make_synthetic_ms(ms, n_chan=96, n_times=24, flux_jy=15.0, noise_sigma=SIGMA, seed=5)
    rng = np.random.default_rng(9)
    with table(str(ms), readonly=False, ack=False) as tb:
        data, t = tb.getcol("DATA"), tb.getcol("TIME")
        a1, a2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
        cross = a1 != a2
        rfi = np.zeros(data.shape, bool)
        rfi[cross, 37] = True  # a line
        rfi[cross & (t == np.unique(t)[11])] = True  # a broadband burst
        data[rfi] += (30 * SIGMA * np.exp(2j * np.pi * rng.random(rfi.sum()))).astype(np.complex64)
        tb.putcol("DATA", data)
    flags = flag_ms(ms)
    with table(str(ms), ack=False) as tb:
        flag = tb.getcol("FLAG")
    assert flag[rfi].mean() >= 0.95
    assert flag[cross[:, None, None] & ~rfi].mean() < 0.05
    assert flags.qa()["per_channel"][37] == 1.0

    sol = solve_ms(ms, SolveParams(uvmin_lambda=0.0))
    # antenna gains (B x G) against the truth where the solution SNR is high
    total = sol.bandpass.gains[0] * sol.gain.gains[0]
    ref = list(sol.bandpass.antennas).index(sol.bandpass.refant)
    true = truth.gains * np.conj(truth.gains[ref]) / np.abs(truth.gains[ref])
    good = ~(sol.bandpass.flags[0] | sol.gain.flags[0]) & (sol.bandpass.snr[0] > 50)
    ratio = total[good] / true[good]
    assert good.mean() > 0.8
    assert np.median(np.abs(np.abs(ratio) - 1)) < 0.01
    assert np.median(np.degrees(np.abs(np.angle(ratio)))) < 1.0

    paths = write_solutions(sol, ms)
    info = read_info(ms)
    records = caltable_records(sol, paths, info, "test-cal")
    cands = [
        TableCandidate(
            r["path"], r["table_type"], r["valid_start_mjd"], r["valid_end_mjd"], r["dec_deg"]
        )
        for r in records
    ]
    selection = select_tables(cands, info.mid_mjd, info.dec_deg)
    assert selection.ok
    apply_ms(ms, selection.paths)
    with table(str(ms), ack=False) as tb:
        corrected, flag = tb.getcol("CORRECTED_DATA"), tb.getcol("FLAG")
    use = ~flag & cross[:, None, None]
    # the calibrator's calibrated amplitude equals its 15 Jy model within 1 %
    assert abs(np.real(corrected[use]).mean() / 15.0 - 1) < 0.01
