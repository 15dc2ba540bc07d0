"""CASA reads our tables and applycal gives our CORRECTED_DATA (needs casatools/casatasks)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from casacore.tables import table

from dsa110_contimg.calibration.apply import apply_ms
from dsa110_contimg.calibration.caltable import write_solutions
from dsa110_contimg.calibration.solve import SolveParams, solve_ms
from dsa110_contimg.tools.casa import run_casa_result as run_casa

from .conftest import requires_casa

pytestmark = [pytest.mark.casa, requires_casa]


def test_casa_applycal_matches_our_apply(cal_ms, tmp_path):
    ms, _ = cal_ms
    sol = solve_ms(ms, SolveParams(uvmin_lambda=0.0))
    sol.bandpass.flags[0, 2, 30] = True  # a flagged solution must flag the same samples
    paths = write_solutions(sol, ms)
    casa_ms = tmp_path / "casa.ms"
    shutil.copytree(ms, casa_ms)
    apply_ms(ms, [paths["bandpass"], paths["gain"]])
    result = run_casa(
        f"""
tb = casatools.table()
tb.open({str(paths["bandpass"])!r}); result["viscal"] = tb.getkeyword("VisCal"); tb.close()
casatasks.applycal(vis={str(casa_ms)!r}, gaintable=[{str(paths["bandpass"])!r}, {str(paths["gain"])!r}],
                   interp=["nearest,linearflag", "linear"], calwt=False, flagbackup=False)
""",
        workdir=tmp_path,
    )
    assert result["viscal"] == "B Jones"
    with table(str(ms), ack=False) as tb:
        ours, our_flag = tb.getcol("CORRECTED_DATA"), tb.getcol("FLAG")
    with table(str(casa_ms), ack=False) as tb:
        theirs, their_flag = tb.getcol("CORRECTED_DATA"), tb.getcol("FLAG")
    np.testing.assert_array_equal(our_flag, their_flag)
    ok = ~our_flag
    rel = np.abs(ours[ok] - theirs[ok]) / np.abs(theirs[ok])
    assert rel.max() < 1e-4
