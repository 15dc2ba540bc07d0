"""Simulated groups and their pyuvdata-made reference MS, made once per worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsa110_contimg.conversion.convert import convert_group, tile_centre
from dsa110_contimg.conversion.pyuvdata_path import read_group
from dsa110_contimg.conversion.reader import open_group
from dsa110_contimg.simulate import preset_config, simulate


@pytest.fixture(scope="session")
def sim_group(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], dict]:
    """One calibrator group of the test preset with unit gains (data in Jy), no RFI."""
    out = tmp_path_factory.mktemp("conv-sim")
    cfg = preset_config(
        "test", n_epochs=1, targets_per_epoch=0, gains=False, rfi=False, n_antennas=32
    )
    truth = simulate(cfg, out)
    files = [out / "incoming" / name for name in truth["groups"][0]["files"]]
    return files, truth


@pytest.fixture(scope="session")
def our_ms(sim_group, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files, _ = sim_group
    out = tmp_path_factory.mktemp("conv-ours") / "group.ms"
    convert_group(files, out)
    return out


@pytest.fixture(scope="session")
def pyuvdata_ms(sim_group, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The operating pipeline's path: pyuvdata read, phase to the same centre, write_ms."""
    files, _ = sim_group
    header = open_group(files)
    centre = tile_centre(header)
    header.close()
    uv = read_group(files)
    uv.phase(ra=centre.ra.rad, dec=centre.dec.rad, cat_name="tile")
    out = tmp_path_factory.mktemp("conv-ref") / "group.ms"
    uv.write_ms(str(out), run_check=False)
    return out
