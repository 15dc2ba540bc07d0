"""Reading a subband file's metadata from its header, and refusing what is not one."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.ingest import parse_name, read_header
from dsa110_contimg.ingest.header import subband_band_hz
from dsa110_contimg.telescope import INTEGRATION_TIME_S


def _first(sim_stream: tuple[Path, dict], subband: int = 3) -> tuple[Path, dict]:
    incoming, truth = sim_stream
    group = truth["groups"][0]
    return incoming / group["files"][subband], truth


def test_header_values(sim_stream: tuple[Path, dict]) -> None:
    path, truth = _first(sim_stream)
    group = truth["groups"][0]
    info = read_header(path)
    assert info.subband == 3
    assert info.name_time == dt.datetime.fromisoformat(group["group_id"]).replace(tzinfo=dt.UTC)
    n = truth["config"]["n_integrations"]
    assert info.n_times == n
    assert info.start_mjd == pytest.approx(group["start_mjd"], abs=1e-3 / 86400)
    assert info.end_mjd == pytest.approx(group["end_mjd"], abs=1e-3 / 86400)
    assert (info.end_mjd - info.start_mjd) * 86400 == pytest.approx(n * INTEGRATION_TIME_S)
    assert info.dec_deg == pytest.approx(truth["pointing_dec_of_date_deg"])
    lo, hi = subband_band_hz(3)
    assert lo < info.freq_min_hz < info.freq_max_hz < hi
    assert info.n_antennas == 12
    assert info.size_bytes == path.stat().st_size
    assert info.mtime == path.stat().st_mtime


@pytest.mark.parametrize(
    "name",
    [
        "2026-01-15T13:44:44_sb3.hdf5",
        "2026-01-15T13:44:44_sb16.hdf5",
        "2026-13-15T13:44:44_sb03.hdf5",
        "20260115T134444_sb03.hdf5",
        "2026-01-15T13:44:44_sb03.h5",
    ],
)
def test_names_that_do_not_parse(name: str) -> None:
    with pytest.raises(InputDataError, match="sb|subband|date"):
        parse_name(name)


def test_truncated_file(sim_stream: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = _first(sim_stream)
    copy = Path(shutil.copy2(path, tmp_path / path.name))
    with open(copy, "r+b") as fh:
        fh.truncate(copy.stat().st_size - 100)
    with pytest.raises(InputDataError, match="truncated"):
        read_header(copy)


def test_garbage_and_empty_files(tmp_path: Path) -> None:
    garbage = tmp_path / "2026-01-15T13:44:44_sb03.hdf5"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(InputDataError, match="not an HDF5 file"):
        read_header(garbage)
    empty = tmp_path / "2026-01-15T13:44:44_sb04.hdf5"
    empty.touch()
    with pytest.raises(InputDataError, match="empty"):
        read_header(empty)


def _edited(sim_stream: tuple[Path, dict], tmp_path: Path, name: str | None = None) -> Path:
    path, _ = _first(sim_stream)
    return Path(shutil.copy2(path, tmp_path / (name or path.name)))


def test_foreign_file_missing_keys(sim_stream: tuple[Path, dict], tmp_path: Path) -> None:
    path = _edited(sim_stream, tmp_path)
    with h5py.File(path, "r+") as f:
        del f["Header/extra_keywords/phase_center_dec"]
        del f["Data/nsamples"]
    with pytest.raises(InputDataError, match="lacks.*nsamples.*phase_center_dec"):
        read_header(path)


def test_wrong_shapes(sim_stream: tuple[Path, dict], tmp_path: Path) -> None:
    path = _edited(sim_stream, tmp_path)
    with h5py.File(path, "r+") as f:
        shape = f["Data/flags"].shape
        del f["Data/flags"]
        f["Data/flags"] = np.zeros((shape[0] // 2, *shape[1:]), bool)
    with pytest.raises(InputDataError, match="Data/flags shape"):
        read_header(path)


def test_visibilities_never_written(sim_stream: tuple[Path, dict], tmp_path: Path) -> None:
    path = _edited(sim_stream, tmp_path)
    with h5py.File(path, "r+") as f:
        shape, dtype = f["Data/visdata"].shape, f["Data/visdata"].dtype
        del f["Data/visdata"]
        f["Data"].create_dataset("visdata", shape, dtype)  # allocated on first write: never
    with pytest.raises(InputDataError, match="never fully written"):
        read_header(path)


def test_subband_of_the_name_must_match_the_channels(
    sim_stream: tuple[Path, dict], tmp_path: Path
) -> None:
    path = _edited(sim_stream, tmp_path, "2026-01-15T13:44:44_sb05.hdf5")
    with pytest.raises(InputDataError, match="not in subband 05"):
        read_header(path)


def test_hdf5_file_of_another_kind(tmp_path: Path) -> None:
    path = tmp_path / "2026-01-15T13:44:44_sb03.hdf5"
    with h5py.File(path, "w") as f:
        f["image"] = np.zeros((8, 8))
    with pytest.raises(InputDataError, match="lacks Header, Data, Header/extra_keywords"):
        read_header(path)


def test_damaged_metadata_is_a_reason_never_a_crash(
    sim_stream: tuple[Path, dict], tmp_path: Path
) -> None:
    """Random bytes over a file's metadata: read fine or refused, never another error."""
    path, _ = _first(sim_stream)
    good = path.read_bytes()
    rng = np.random.default_rng(7)
    target = tmp_path / path.name
    refused = 0
    for _ in range(60):
        damaged = bytearray(good)
        start, n = int(rng.integers(0, len(good) // 2)), int(rng.integers(1, 64))
        damaged[start : start + n] = rng.integers(0, 256, n, np.uint8).tobytes()
        target.write_bytes(bytes(damaged))
        try:
            read_header(target)
        except InputDataError:
            refused += 1
    assert refused > 0
