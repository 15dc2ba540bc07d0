"""CASA-format tables round-trip, apply recovers the model, table selection rules."""

from __future__ import annotations

import numpy as np
import pytest
from casacore.tables import table

from dsa110_contimg.calibration.apply import apply_ms, gains_at
from dsa110_contimg.calibration.caltable import read_caltable, write_solutions
from dsa110_contimg.calibration.errors import DeclinationMismatchError
from dsa110_contimg.calibration.select import TableCandidate, select_tables
from dsa110_contimg.calibration.solutions import JonesSolutions
from dsa110_contimg.calibration.solve import SolveParams, solve_ms

from .conftest import assert_calibrated

SMALL = SolveParams(uvmin_lambda=0.0)


def test_tables_round_trip_and_layout(cal_ms):
    ms, _ = cal_ms
    sol = solve_ms(ms, SMALL)
    paths = write_solutions(sol, ms)
    assert paths["bandpass"].name == "cal.ms.b" and paths["gain"].name == "cal.ms.g"
    assert not list(ms.parent.glob(".*tmp*"))  # atomic: no temporary left behind
    for key, viscal in (("bandpass", "B Jones"), ("gain", "G Jones")):
        with table(str(paths[key]), ack=False) as tb:
            kw = tb.getkeywords()
            assert kw["VisCal"] == viscal and kw["ParType"] == "Complex"
            assert kw["PolBasis"] == "unknown" and kw["MSName"] == "cal.ms"
            for sub in ("ANTENNA", "FIELD", "SPECTRAL_WINDOW", "OBSERVATION", "HISTORY"):
                assert sub in kw
            assert tb.info()["type"] == "Calibration"
    b = read_caltable(paths["bandpass"])
    ants = sol.bandpass.antennas
    np.testing.assert_allclose(b.gains[:, ants], sol.bandpass.gains, rtol=1e-6, atol=1e-7)
    assert b.flags[:, np.setdiff1d(np.arange(b.gains.shape[1]), ants)].all()
    assert b.refant == sol.bandpass.refant
    g = read_caltable(paths["gain"])
    assert g.gains.shape[2] == 1 and g.freqs_hz.size == 1
    # rewriting replaces the table in place
    write_solutions(sol, ms)
    assert read_caltable(paths["gain"]).gains.shape == g.gains.shape


def test_apply_recovers_model_and_propagates_flags(cal_ms):
    ms, truth = cal_ms
    sol = solve_ms(ms, SMALL)
    sol.bandpass.flags[0, 3, 20] = True  # one antenna, one channel, both pols
    paths = write_solutions(sol, ms)
    apply_ms(ms, [paths["bandpass"], paths["gain"]])
    with table(str(ms), ack=False) as tb:
        corr = tb.getcol("CORRECTED_DATA")
        flag, a1, a2 = tb.getcol("FLAG"), tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
    cross = a1 != a2
    bad_ant = sol.bandpass.antennas[3]
    hit = (a1 == bad_ant) | (a2 == bad_ant)
    assert flag[hit, 20].all() and not flag[~hit].any()
    assert not np.isnan(corr[cross][~flag[cross]]).any()
    assert_calibrated(ms, truth)  # amplitude and phase, to the injected noise


def test_gain_interpolation_in_time():
    g = np.array([1.0, 1j])[:, None, None, None] * np.ones((2, 1, 1, 1))
    sol = JonesSolutions(
        "G", g, np.zeros(g.shape, bool), np.ones(g.shape), np.array([0.0, 10.0]),
        np.array([10.0, 10.0]), np.array([0]), np.array([1.4e9]),
    )  # fmt: skip
    out, flags = gains_at(sol, np.array([-5.0, 5.0, 15.0]))
    np.testing.assert_allclose(out[:, 0, 0, 0], [1, np.exp(1j * np.pi / 4), 1j], atol=1e-12)
    assert not flags.any()


def _cand(path, kind, start, end, dec, status="valid"):
    return TableCandidate(path, kind, start, end, dec, status)


def test_select_tables_rules():
    t = 61000.5
    cands = [
        _cand("old.b", "bandpass", t - 2, t - 1, 30.0),  # expired window
        _cand("exp.b", "bandpass", t - 0.5, t + 0.5, 30.0, status="expired"),
        _cand("good.b", "bandpass", t - 0.4, t + 0.6, 31.0),
        _cand("better.b", "bandpass", t - 0.5, t + 0.5, 29.0),
        _cand("far.b", "bandpass", t - 0.5, t + 0.5, 45.0),  # other strip, ignored
        _cand("good.g", "gain", t - 0.02, t + 0.02, 30.5),
    ]
    sel = select_tables(cands, t, 30.0)
    assert sel.ok and sel.paths == ["better.b", "good.g"]
    assert any("old.b" in s for s in sel.skipped) and any("exp.b" in s for s in sel.skipped)

    sel = select_tables(cands[:4], t, 30.0)  # no gain table
    assert not sel.ok and "no valid gain table" in sel.reason and sel.tables == {}

    with pytest.raises(DeclinationMismatchError, match="another|deg from the MS"):
        select_tables([_cand("far.b", "bandpass", t - 1, t + 1, 45.0)], t, 30.0)
    assert select_tables([], t, 30.0).reason.startswith("no valid bandpass")


def test_caltable_records_feed_the_selection(cal_ms):
    from dsa110_contimg.calibration.msio import read_info
    from dsa110_contimg.calibration.records import caltable_records

    ms, _ = cal_ms
    sol = solve_ms(ms, SMALL)
    paths = write_solutions(sol, ms)
    info = read_info(ms)
    records = caltable_records(sol, paths, info, "3C286")
    assert {r["table_type"] for r in records} == {"bandpass", "gain"}
    gain = next(r for r in records if r["table_type"] == "gain")
    assert abs((gain["valid_end_mjd"] - gain["valid_start_mjd"]) * 24 - 1) < 1e-9
    assert gain["refant"] == "103" and abs(gain["dec_deg"] - 30.0) < 1e-6
    assert gain["qa_metrics"]["gain_median_snr"] > 50
    cands = [
        TableCandidate(
            r["path"], r["table_type"], r["valid_start_mjd"], r["valid_end_mjd"], r["dec_deg"]
        )
        for r in records
    ]
    sel = select_tables(cands, info.mid_mjd + 0.01, 31.0)
    assert sel.ok and sel.paths == [str(paths["bandpass"].resolve()), str(paths["gain"].resolve())]
    assert not select_tables(cands, info.mid_mjd + 0.05, 31.0).ok  # gains expired after 30 min
