"""Simulated data sets shared by the simulator's tests (made once per worker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsa110_contimg.simulate import preset_config, simulate
from dsa110_contimg.simulate.config import StreamEffects

#: group 3 of the test set carries the stream's damage; groups 0-2 are whole
DAMAGE = StreamEffects(
    arrival_jitter_s=40.0, missing_subband=(3, 5), truncated_file=(3, 7), corrupt_file=(3, 9)
)


@pytest.fixture(scope="session")
def test_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The ``test`` preset, with a missing, a truncated and a corrupt file in group 3."""
    out = tmp_path_factory.mktemp("sim-test")
    truth = simulate(preset_config("test", stream=DAMAGE), out)
    return out, truth


@pytest.fixture(scope="session")
def calibrator_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One noise-free calibrator group with nothing else on the sky and no RFI."""
    out = tmp_path_factory.mktemp("sim-cal")
    cfg = preset_config(
        "test",
        n_antennas=40,
        n_epochs=1,
        targets_per_epoch=0,
        sefd_jy=0.0,
        rfi=False,
        density_per_deg2=1e-9,
        n_flares=0,
        n_eses=0,
    )
    simulate(cfg, out)
    return out, json.loads((out / "truth.json").read_text())
