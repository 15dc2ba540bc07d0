"""Fixtures: one small synthetic calibrator MS per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dsa110_contimg.calibration.synthetic import SyntheticTruth, make_synthetic_ms


@pytest.fixture(scope="session")
def _template_ms(tmp_path_factory) -> tuple[Path, SyntheticTruth]:
    path = tmp_path_factory.mktemp("ms") / "cal.ms"
    truth = make_synthetic_ms(path, noise_sigma=0.02, seed=7)
    return path, truth


@pytest.fixture
def cal_ms(_template_ms, tmp_path) -> tuple[Path, SyntheticTruth]:
    """A writable copy of the synthetic MS (16 antennas, 96 channels, 8 times)."""
    src, truth = _template_ms
    dst = tmp_path / "cal.ms"
    shutil.copytree(src, dst)
    return dst, truth


requires_casa = pytest.mark.requires("casa")


def assert_calibrated(ms: Path, truth: SyntheticTruth) -> None:
    """CORRECTED_DATA of ``ms`` equals MODEL_DATA in amplitude and phase, to the noise.

    Two checks on the unflagged cross-correlations, both sensitive to the
    phase as much as to the amplitude (the reference antenna's phase cancels
    in g_i conj(g_j), so no phase reference is needed):

    * the vector mean of CORRECTED/MODEL is 1 within 1e-3: its scatter is
      ~1e-5 for 10 Jy and 0.02 Jy noise on ~1e5 samples, so the bound
      catches a 0.1 % amplitude or a 0.06 deg phase bias;
    * the rms of CORRECTED - MODEL is the injected noise divided by the
      true |g_i g_j|, within 5 % (solution errors add ~1 %): a 1 deg phase
      error on 10 Jy alone would add 0.17 Jy to a 0.03 Jy rms.
    """
    from casacore.tables import table

    with table(str(ms), ack=False) as tb:
        corr, model = tb.getcol("CORRECTED_DATA"), tb.getcol("MODEL_DATA")
        flag, a1, a2 = tb.getcol("FLAG"), tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
    lookup = {int(a): k for k, a in enumerate(truth.antenna_numbers)}
    g = truth.gains  # (Na, Nchan, 2)
    i, j = np.array([lookup[a] for a in a1]), np.array([lookup[a] for a in a2])
    ok = ~flag & (a1 != a2)[:, None, None]
    ratio = corr[ok] / model[ok]
    assert abs(ratio.mean() - 1) < 1e-3, ratio.mean()
    thermal = truth.noise_sigma / np.abs(g[i] * g[j])  # (Nrow, Nchan, 2)
    expected = np.sqrt(np.mean(thermal[ok] ** 2))
    rms = np.sqrt(np.mean(np.abs(corr[ok] - model[ok]) ** 2))
    assert abs(rms / expected - 1) < 0.05, (rms, expected)
