"""One group of the real size (slow: about a minute)."""

from __future__ import annotations

import h5py
import pytest

from dsa110_contimg.conversion.pyuvdata_path import read_subband
from dsa110_contimg.simulate import preset_config, simulate
from dsa110_contimg.telescope import N_BLTS_PER_FILE, SUBBAND_FILE_SIZE_BYTES


@pytest.mark.slow
def test_full_preset_file_size_and_shapes(tmp_path) -> None:
    truth = simulate(preset_config("full"), tmp_path)
    files = [tmp_path / "incoming" / name for name in truth["groups"][0]["files"]]
    for path in files:
        size = path.stat().st_size
        assert abs(size - SUBBAND_FILE_SIZE_BYTES) < 0.01 * SUBBAND_FILE_SIZE_BYTES
    with h5py.File(files[0]) as f:
        assert f["Data/visdata"].shape == (N_BLTS_PER_FILE, 1, 48, 2)
    uv = read_subband(files[-1])
    assert (uv.Nants_data, uv.Nbls, uv.Ntimes, uv.Nfreqs) == (96, 4656, 24, 48)
