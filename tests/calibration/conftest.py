"""Fixtures: one small synthetic calibrator MS per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dsa110_contimg.calibration.synthetic import SyntheticTruth, make_synthetic_ms
from dsa110_contimg.tools.casa import casa_available


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


requires_casa = pytest.mark.skipif(
    not casa_available(), reason="casatools/casatasks/casadata (and six) not installed"
)
